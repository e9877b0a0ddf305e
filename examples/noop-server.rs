//! The no-op baseline for the HTTP benchmark (`scripts/bench-http.sh`): an
//! axum server on the same stack as vcgate (tokio, hyper, axum, serde_json)
//! whose `POST /api/v1/alarms` parses the JSON body and answers 202, and does
//! nothing else: no auth, no store, no commit. What vcgate's durable accepts
//! per second are compared with ("the stack's limit on this box").
//!
//! ```text
//! cargo run --release --example noop-server -- --listen 127.0.0.1:8099
//! ```
//!
//! Prints `listening on ADDR` once it accepts connections.

use std::net::SocketAddr;

use axum::Json;
use axum::http::StatusCode;
use axum::routing::{get, post};

async fn accept(Json(body): Json<serde_json::Value>) -> StatusCode {
    std::hint::black_box(body);
    StatusCode::ACCEPTED
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = match (args.next().as_deref(), args.next()) {
        (Some("--listen"), Some(addr)) => addr
            .parse()
            .map_err(|_| std::io::Error::other(format!("--listen {addr}: not HOST:PORT")))?,
        _ => {
            return Err(std::io::Error::other(
                "usage: noop-server --listen HOST:PORT",
            ));
        }
    };
    let app = axum::Router::new()
        .route("/api/v1/alarms", post(accept))
        .route("/readyz", get(|| async { StatusCode::OK }));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
