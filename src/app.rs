//! Wiring: builds the store, stages and listeners from a `Config`, runs them
//! as tasks, and shuts them down in order on SIGINT/SIGTERM.
//!
//! Shutdown order: stop accepting (listeners close, in-flight requests finish
//! and are answered only after their commit), then cancel background stages.
//! Everything acknowledged is already committed, so nothing is lost.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::ingest::Ingestor;
use crate::telemetry::Stats;

/// Runs the gateway until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    config_path: Option<std::path::PathBuf>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    for section in config.inactive_sections() {
        tracing::warn!(
            section,
            "config section [{section}] is accepted but not active in this version"
        );
    }
    if config.vcenter.iter().all(|vc| vc.url.is_none()) {
        tracing::info!("no vCenter API configured: enrichment and guard are off");
    }

    let store = crate::store::open(&config.store).context("opening the store")?;
    tracing::info!(path = %config.store.path.display(), "store open");
    let stats = Arc::new(Stats::new());
    let ingestor = Ingestor {
        store: store.clone(),
        stats: stats.clone(),
        pipeline_wake: Arc::new(Notify::new()),
    };
    let metrics = crate::telemetry::init_metrics();
    let run_wakes = crate::automation::Wakes::default();
    let settings = crate::settings::Settings::from_config(&config).map_err(anyhow::Error::msg)?;
    let live = crate::settings::Live::new(settings, config_path);
    tasks_reload_on_sighup(live.clone(), shutdown.clone());
    let state = AppState::new(
        &config,
        ingestor.clone(),
        metrics,
        run_wakes.clone(),
        live.clone(),
    )
    .context("loading tokens")?;

    let tasks = tokio_util::task::TaskTracker::new();
    tasks.spawn(prune_loop(
        store.clone(),
        config.store.max_age,
        config.store.max_events,
        shutdown.clone(),
    ));
    tasks.spawn(forget_idle_clients(
        state.rate_limit.clone(),
        shutdown.clone(),
    ));
    crate::pipeline::spawn(
        &config,
        ingestor.clone(),
        live,
        run_wakes,
        &tasks,
        shutdown.clone(),
    )
    .await?;
    crate::ingest::vcenter_events::spawn(&config, ingestor.clone(), &tasks, shutdown.clone())
        .context("starting the vCenter event streams")?;
    if config.snmp.enabled {
        crate::ingest::snmp::spawn(&config, ingestor.clone(), &tasks, shutdown.clone())
            .await
            .context("starting the SNMP receiver")?;
    }

    let http = serve_http(&config, state, shutdown.clone());
    let result = http.await;
    shutdown.cancel();
    tasks.close();
    if tokio::time::timeout(Duration::from_secs(10), tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("background tasks did not stop within 10 s");
    }
    tracing::info!("vcgate stopped");
    result
}

async fn serve_http(
    config: &Config,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let app = api::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let addr = config.http.listen;
    match (&config.http.tls_cert, &config.http.tls_key) {
        (Some(cert), Some(key)) => {
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .with_context(|| {
                    format!(
                        "loading TLS certificate {} / key {}",
                        cert.display(),
                        key.display()
                    )
                })?;
            let handle = axum_server::Handle::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                shutdown.cancelled().await;
                stopper.graceful_shutdown(Some(Duration::from_secs(10)));
            });
            tracing::info!(%addr, "HTTPS listening");
            axum_server::bind_rustls(addr, tls)
                .handle(handle)
                .serve(app)
                .await
                .with_context(|| format!("HTTPS listener on {addr}"))
        }
        _ => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding HTTP listener on {addr}"))?;
            tracing::info!(addr = %listener.local_addr()?, "HTTP listening");
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
                .context("HTTP server")
        }
    }
}

async fn prune_loop(
    store: crate::store::Store,
    max_age: Duration,
    max_events: u64,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match store.prune(max_age, max_events).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "pruned old events"),
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
        }
    }
}

async fn forget_idle_clients(rate_limit: Arc<api::RateLimit>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => rate_limit.retain_recent(),
        }
    }
}

/// SIGHUP re-reads the reloadable settings (see `settings`).
fn tasks_reload_on_sighup(live: crate::settings::Live, shutdown: CancellationToken) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("cannot install the SIGHUP handler; use POST /api/v1/reload");
            return;
        };
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = hup.recv() => {}
            }
            let live = live.clone();
            match tokio::task::spawn_blocking(move || live.reload()).await {
                Ok(Ok(_)) => {}
                Ok(Err(reason)) => {
                    tracing::error!(%reason, "reload rejected; the previous settings stay")
                }
                Err(e) => tracing::error!(error = %e, "reload failed"),
            }
        }
    });
}

/// Cancels `token` on SIGINT or SIGTERM.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("installing SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown requested: finishing in-flight requests");
        token.cancel();
    });
}
