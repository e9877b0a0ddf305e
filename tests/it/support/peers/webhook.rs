//! HTTP peers served by the test itself on port 0. [`WebhookReceiver`]
//! records every POST (headers and body) and answers 200 with
//! `{"ok":true}`, or 500 while told to fail: a monitoring webhook, a
//! function's endpoint, Alertmanager's receiver. [`BlackHole`] accepts
//! connections and never answers: a hung gateway or function.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

/// One answered request.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: String,
}

impl Received {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The body as JSON; panics when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("webhook body is not JSON ({e}): {}", self.body))
    }
}

#[derive(Default)]
struct State {
    /// Requests answered 200, in arrival order.
    received: Mutex<Vec<Received>>,
    /// Every request, failed ones included.
    requests: AtomicUsize,
    /// Requests still to be answered 500.
    fail_first: AtomicUsize,
}

#[derive(Clone)]
pub struct WebhookReceiver {
    /// `http://127.0.0.1:PORT<path>`.
    pub url: String,
    state: Arc<State>,
}

impl WebhookReceiver {
    /// Serves `path` (e.g. `/hook`) on a port the kernel picks.
    pub async fn start(path: &str) -> WebhookReceiver {
        let state = Arc::new(State::default());
        let shared = state.clone();
        let app = axum::Router::new().route(
            path,
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = shared.clone();
                async move {
                    state.requests.fetch_add(1, Ordering::SeqCst);
                    let failing = state
                        .fail_first
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if failing {
                        return (StatusCode::INTERNAL_SERVER_ERROR, "failing on purpose");
                    }
                    state
                        .received
                        .lock()
                        .unwrap()
                        .push(Received { headers, body });
                    (StatusCode::OK, "{\"ok\":true}")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{path}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        WebhookReceiver { url, state }
    }

    /// Answers the next `n` requests with 500 (`usize::MAX`: until told otherwise).
    pub fn fail_first(&self, n: usize) {
        self.state.fail_first.store(n, Ordering::SeqCst);
    }

    /// Every request so far, failed ones included.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// The requests answered 200, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// The JSON bodies of the requests answered 200.
    pub fn bodies(&self) -> Vec<Value> {
        self.received().iter().map(Received::json).collect()
    }
}

/// A server on port 0 that accepts connections and never answers (a hung
/// peer: only the client's timeout ends a request). Stops when dropped.
pub struct BlackHole {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    holder: tokio::task::JoinHandle<()>,
}

impl BlackHole {
    pub async fn start() -> BlackHole {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let holder = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        BlackHole { url, holder }
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.holder.abort();
    }
}
