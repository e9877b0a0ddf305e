//! The HTTP listener: accepts connections (plain or TLS) and serves the
//! router over HTTP/1.1 with hyper, under limits no client can get around.
//!
//! Owns: the accept loop and each connection's lifetime. Limits (`[http]`):
//! at most `max_connections` open connections (a semaphore; beyond it new
//! connections wait in the kernel's accept queue), a TLS handshake and every
//! request head within `header_read_timeout` (counted from the connection's
//! start, or from the first byte of a later request on a kept-alive one), an
//! idle keep-alive connection closed after `idle_timeout`, request heads at
//! most `MAX_HEAD` bytes. Bodies are bounded in size and time where they are
//! read (`body.rs`). A connection closed by a limit is counted in status
//! (`http.closed.<reason>`). Shutdown: stop accepting, let requests in flight
//! finish (their commits are answered), close idle connections.
//!
//! Must not: log per connection above debug level (a client controls that rate).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::logging::Sampled;
use crate::telemetry::Stats;

/// Largest request head (request line and headers) hyper buffers.
const MAX_HEAD: usize = 64 * 1024;
/// How long shutdown waits for requests in flight.
const DRAIN: Duration = Duration::from_secs(10);
static ACCEPT_WARN: Sampled = Sampled::every(Duration::from_secs(10));

/// The listener's limits, from `[http]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Limits {
    pub fn from_config(http: &crate::config::HttpConfig) -> Self {
        Limits {
            header_read_timeout: http.header_read_timeout,
            idle_timeout: http.idle_timeout,
            max_connections: http.max_connections,
        }
    }
}

/// Serves `app` on `listener` (through `tls` when given) until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    app: Router,
    limits: Limits,
    stats: Arc<Stats>,
    shutdown: CancellationToken,
) {
    let tls = tls.map(|config| {
        axum_server::tls_rustls::RustlsAcceptor::new(config)
            .handshake_timeout(limits.header_read_timeout)
    });
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let connections = TaskTracker::new();
    stats.http_connections(0, limits.max_connections);
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit.expect("never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off, never spin.
                    if let Some(suppressed) = ACCEPT_WARN.allow() {
                        tracing::warn!(error = %e, suppressed, "accepting an HTTP connection failed");
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (app, stats, shutdown, tls) =
            (app.clone(), stats.clone(), shutdown.clone(), tls.clone());
        connections.spawn(async move {
            stats.http_connections(1, limits.max_connections);
            let closed = match tls {
                None => connection(stream, peer, app, limits, shutdown).await,
                Some(acceptor) => {
                    use axum_server::accept::Accept;
                    match acceptor.accept(stream, ()).await {
                        Ok((stream, _)) => connection(stream, peer, app, limits, shutdown).await,
                        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                            Some("handshake_timeout")
                        }
                        Err(_) => Some("handshake_failed"),
                    }
                }
            };
            if let Some(reason) = closed {
                stats.http_closed(reason);
            }
            stats.http_connections(-1, limits.max_connections);
            drop(permit);
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(DRAIN, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after {DRAIN:?}; closing them");
    }
}

/// Serves one connection; returns the limit that closed it, if one did.
async fn connection<S>(
    stream: S,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> Option<&'static str>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = hyper_util::rt::TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let service_activity = activity.clone();
    let service =
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let app = app.clone();
            let activity = service_activity.clone();
            activity.request_started();
            async move {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                let response = app.oneshot(request).await;
                activity.request_finished();
                response
            }
        });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true).max_buf_size(MAX_HEAD);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut draining = false;
    loop {
        // Re-check at least every second: state changes (a request ending,
        // a head starting) move the deadline.
        let wake = activity
            .deadline(&limits)
            .min(Instant::now() + Duration::from_secs(1));
        tokio::select! {
            _ = &mut conn => return None,
            _ = tokio::time::sleep_until(wake) => {
                if let Some(reason) = activity.expired(&limits, Instant::now()) {
                    // Dropping the connection closes the socket.
                    return Some(reason);
                }
            }
            _ = shutdown.cancelled(), if !draining => {
                conn.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}

/// What a connection is doing, shared by its reader, its service and its
/// watcher. Times are nanoseconds since `epoch`; `NONE` means unset.
struct Activity {
    epoch: Instant,
    in_flight: AtomicUsize,
    /// Requests seen so far (0: a fresh connection, waiting for its first head).
    requests: AtomicU64,
    /// When the connection last became idle (opened, or a response ended).
    idle_since: AtomicU64,
    /// First byte read while idle: a request head is on its way.
    head_started: AtomicU64,
}

const NONE: u64 = u64::MAX;

impl Activity {
    fn new() -> Self {
        Activity {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NONE),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    fn at(&self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            let _ = self.head_started.compare_exchange(
                NONE,
                self.now(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    fn request_started(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_started.store(NONE, Ordering::Relaxed);
    }

    fn request_finished(&self) {
        self.idle_since.store(self.now(), Ordering::Relaxed);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// When the current phase runs out, and which limit that is.
    fn limit(&self, limits: &Limits) -> Option<(Instant, &'static str)> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let head = self.head_started.load(Ordering::Relaxed);
        if head != NONE {
            return Some((self.at(head) + limits.header_read_timeout, "header_timeout"));
        }
        let idle = self.at(self.idle_since.load(Ordering::Relaxed));
        if self.requests.load(Ordering::Relaxed) == 0 {
            // Nothing sent yet: the first head is due within the header timeout.
            Some((idle + limits.header_read_timeout, "header_timeout"))
        } else {
            Some((idle + limits.idle_timeout, "idle_timeout"))
        }
    }

    fn deadline(&self, limits: &Limits) -> Instant {
        self.limit(limits)
            .map_or(Instant::now() + limits.idle_timeout, |(at, _)| at)
    }

    fn expired(&self, limits: &Limits, now: Instant) -> Option<&'static str> {
        self.limit(limits)
            .filter(|(at, _)| now >= *at)
            .map(|(_, reason)| reason)
    }
}

/// A connection's stream that tells its [`Activity`] when bytes arrive.
struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Binds `[http] listen` (TLS when `tls_cert`/`tls_key` are set).
pub async fn bind(
    http: &crate::config::HttpConfig,
) -> anyhow::Result<(TcpListener, Option<axum_server::tls_rustls::RustlsConfig>)> {
    use anyhow::Context as _;
    let tls = match (&http.tls_cert, &http.tls_key) {
        (Some(cert), Some(key)) => {
            let loaded = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| {
                    format!(
                        "loading TLS certificate {} / key {}",
                        cert.display(),
                        key.display()
                    )
                })?;
            // HTTP/1.1 only: the limits above are written for it (and h2's
            // own stream multiplexing adds nothing for hooks and the CLI).
            let mut server = (*loaded.get_inner()).clone();
            server.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(axum_server::tls_rustls::RustlsConfig::from_config(
                Arc::new(server),
            ))
        }
        _ => None,
    };
    let listener = TcpListener::bind(http.listen)
        .await
        .with_context(|| format!("binding HTTP listener on {}", http.listen))?;
    Ok((listener, tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4,
        }
    }

    #[test]
    fn each_phase_has_its_limit() {
        let a = Activity::new();
        let l = limits();
        let secs = Duration::from_secs;
        let start = a.epoch;
        // Fresh: the first head is due within the header timeout.
        assert_eq!(a.expired(&l, start + secs(9)), None);
        assert_eq!(a.expired(&l, start + secs(10)), Some("header_timeout"));
        // A request in flight is never cut here (its body has its own timeout).
        a.request_started();
        assert_eq!(a.expired(&l, start + secs(3600)), None);
        a.request_finished();
        let idle = a.at(a.idle_since.load(Ordering::Relaxed));
        assert_eq!(a.expired(&l, idle + secs(59)), None);
        assert_eq!(a.expired(&l, idle + secs(60)), Some("idle_timeout"));
        // A byte of the next head starts its header timeout.
        a.bytes_read();
        let head = a.at(a.head_started.load(Ordering::Relaxed));
        assert_eq!(a.expired(&l, head + secs(9)), None);
        assert_eq!(a.expired(&l, head + secs(10)), Some("header_timeout"));
    }
}
