//! The web console at `/ui/`: a static shell (one HTML page, one stylesheet,
//! one script, an icon) embedded in the binary, and the security headers
//! every `/ui/` answer carries.
//!
//! Design: the pages hold no data. The script asks for a token once (kept in
//! the tab's `sessionStorage`), then reads and writes only through the
//! existing JSON API with an `Authorization: Bearer` header, and builds the
//! page with DOM calls (`textContent`, `createElement`) — never with HTML
//! strings. So the console adds no second path to the data and no second auth
//! scheme: the API's scopes apply as they are (read to view, admin to change),
//! a forged cross-site request carries no bearer header (no CSRF), the token
//! never appears in a URL, a log line or a cookie, and the CSP
//! ([`CONTENT_SECURITY_POLICY`]: scripts only from this origin, Trusted Types
//! required so an `innerHTML` sink throws) backs the DOM rule up.
//!
//! Owns: the asset table, `/ui` routing and the response headers.
//! Must not: serve anything read from the store, or accept a token.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// The policy of every `/ui/` response. Nothing inline (no `'unsafe-inline'`
/// for scripts, styles or handlers), nothing from another origin, no
/// framing, no form posts anywhere (the login form is handled by the
/// script; should it fail to load, the browser does not put the token in a
/// URL), and Trusted Types: a string assigned to an HTML sink is refused.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'; require-trusted-types-for 'script'; \
     trusted-types 'none'";

/// One embedded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static [u8],
}

const INDEX: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("assets/index.html"),
};

const ASSETS: &[(&str, Asset)] = &[
    (
        "app.js",
        Asset {
            content_type: "text/javascript; charset=utf-8",
            body: include_bytes!("assets/app.js"),
        },
    ),
    (
        "app.css",
        Asset {
            content_type: "text/css; charset=utf-8",
            body: include_bytes!("assets/app.css"),
        },
    ),
    (
        "favicon.svg",
        Asset {
            content_type: "image/svg+xml",
            body: include_bytes!("assets/favicon.svg"),
        },
    ),
];

/// The asset at `path` below `/ui/` (`""` is the page itself). Pages are
/// addressed by the URL fragment (`/ui/#/events`), so any other name is 404.
pub fn lookup(path: &str) -> Option<Asset> {
    if path.is_empty() || path == "index.html" {
        return Some(INDEX);
    }
    ASSETS
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, asset)| *asset)
}

/// The headers every `/ui/` answer carries, found or not.
pub fn security_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut set = |name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "no-referrer");
    set(
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    set(
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=()",
    );
    // Small and embedded: revalidating costs nothing, and an upgraded binary
    // is never paired with a stale script.
    set(header::CACHE_CONTROL, "no-cache");
    h
}

/// The answer for `path` below `/ui/`.
pub fn respond(path: &str) -> Response {
    match lookup(path) {
        Some(asset) => (
            StatusCode::OK,
            security_headers(),
            [(header::CONTENT_TYPE, asset.content_type)],
            asset.body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            security_headers(),
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found\n",
        )
            .into_response(),
    }
}

/// The console's routes; open (they carry no data), merged into the API router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(|| async { respond("") }))
        .route(
            "/ui/{*path}",
            get(|Path(path): Path<String>| async move { respond(&path) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_route_by_exact_name() {
        assert_eq!(lookup("").unwrap().content_type, "text/html; charset=utf-8");
        assert_eq!(lookup("index.html"), lookup(""));
        assert!(
            lookup("app.js")
                .unwrap()
                .content_type
                .starts_with("text/javascript")
        );
        assert!(
            lookup("app.css")
                .unwrap()
                .content_type
                .starts_with("text/css")
        );
        assert_eq!(lookup("favicon.svg").unwrap().content_type, "image/svg+xml");
        for path in [
            "events",
            "../Cargo.toml",
            "app.js/",
            "APP.JS",
            "assets/app.js",
            "%2e%2e",
        ] {
            assert_eq!(lookup(path), None, "{path}");
        }
    }

    #[test]
    fn the_policy_allows_nothing_inline_nor_foreign() {
        let csp = CONTENT_SECURITY_POLICY;
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'none'",
            "base-uri 'none'",
            "require-trusted-types-for 'script'",
        ] {
            assert!(csp.contains(directive), "{directive} missing from {csp}");
        }
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(!csp.contains("http"), "no foreign origin: {csp}");
        let h = security_headers();
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], csp);
    }

    #[test]
    fn the_page_has_no_inline_script_style_or_handler() {
        let html = std::str::from_utf8(INDEX.body).unwrap();
        assert!(html.contains(r#"<script src="app.js" defer></script>"#));
        assert!(html.contains(r#"<link rel="stylesheet" href="app.css">"#));
        // Every <script> has a src; no on* attribute, no style attribute.
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script src=").count()
        );
        let lower = html.to_ascii_lowercase();
        for bad in [
            " onclick",
            " onload",
            " onsubmit",
            " onerror",
            " style=",
            "javascript:",
            "http://",
            "https://",
        ] {
            assert!(!lower.contains(bad), "{bad} in index.html");
        }
        // The script writes text and nodes, never HTML strings.
        let js = std::str::from_utf8(lookup("app.js").unwrap().body).unwrap();
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!js.contains(sink), "{sink} in app.js");
        }
    }

    #[test]
    fn unknown_paths_are_404_with_the_same_headers() {
        let r = respond("nope");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            r.headers()[header::CONTENT_SECURITY_POLICY],
            CONTENT_SECURITY_POLICY
        );
        let r = respond("app.css");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
    }
}
