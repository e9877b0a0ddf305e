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
    let tasks = tokio_util::task::TaskTracker::new();
    let vcenters = crate::vcenters::Vcenters::from_config(&config)?;
    let silencer = start_silencer(&config, &store, &vcenters, &tasks, shutdown.clone()).await?;
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
        silencer.clone(),
    )
    .context("loading tokens")?;

    tasks.spawn(prune_loop(store.clone(), config.clone(), shutdown.clone()));
    tasks.spawn(forget_idle_clients(
        state.rate_limit.clone(),
        shutdown.clone(),
    ));
    let guard_wake = Arc::new(Notify::new());
    crate::pipeline::spawn(
        &config,
        crate::pipeline::Wiring {
            ingestor: ingestor.clone(),
            live,
            run_wakes,
            vcenters: vcenters.clone(),
            silencer: silencer.clone(),
            guard_wake: guard_wake.clone(),
        },
        &tasks,
        shutdown.clone(),
    )
    .await?;
    crate::guard::spawn(
        &config,
        &state.guard,
        &vcenters,
        ingestor.clone(),
        guard_wake,
        &tasks,
        shutdown.clone(),
    );
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
            let listening = handle.clone();
            tokio::spawn(async move {
                if listening.listening().await.is_some() {
                    crate::notify::ready();
                }
            });
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
            // The SNMP socket and the store were set up before this.
            crate::notify::ready();
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
                .context("HTTP server")
        }
    }
}

/// Loads the stored silences and, when maintenance silencing is on, starts the
/// maintenance poller.
async fn start_silencer(
    config: &Config,
    store: &crate::store::Store,
    vcenters: &crate::vcenters::Vcenters,
    tasks: &tokio_util::task::TaskTracker,
    shutdown: CancellationToken,
) -> anyhow::Result<crate::silence::Silencer> {
    let retention = time::Duration::try_from(config.silence.expired_retention)
        .unwrap_or(time::Duration::days(7));
    let silences = store
        .list_silences(time::OffsetDateTime::now_utc() - retention)
        .await
        .context("loading silences")?;
    let maintenance_on = config.silence.maintenance.unwrap_or(!vcenters.is_empty());
    let maintenance =
        (maintenance_on && !vcenters.is_empty()).then(crate::silence::SharedMaintenance::default);
    if maintenance_on && vcenters.is_empty() {
        tracing::warn!(
            "[silence] maintenance = true needs a [[vcenter]] with a url; maintenance silencing is off"
        );
    }
    if let Some(shared) = &maintenance {
        tasks.spawn(crate::silence::maintenance::poll_loop(
            shared.clone(),
            vcenters.clone(),
            config.silence.poll,
            shutdown,
        ));
    }
    Ok(crate::silence::Silencer::new(
        silences,
        maintenance,
        config.silence.inhibit.clone(),
    ))
}

async fn prune_loop(store: crate::store::Store, config: Config, shutdown: CancellationToken) {
    let (max_age, max_events) = (config.store.max_age, config.store.max_events);
    let retention = time::Duration::try_from(config.silence.expired_retention)
        .unwrap_or(time::Duration::days(7));
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
        if let Err(e) = store
            .prune_silences(time::OffsetDateTime::now_utc() - retention)
            .await
        {
            tracing::warn!(error = %e, "pruning silences failed");
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
        crate::notify::stopping();
        token.cancel();
    });
}
