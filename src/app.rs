//! Wiring: builds the store, stages and listeners from a `Config`, runs them
//! as tasks, and shuts them down in order on SIGINT/SIGTERM, or when a stage
//! stops on its own (`stages`: then `run` returns that as its error).
//!
//! Shutdown order: stop accepting (listeners close, in-flight requests finish
//! and are answered only after their commit), then cancel background stages.
//! Everything acknowledged is already committed, so nothing is lost.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::ingest::Ingestor;
use crate::supervisor::Supervisor;
use crate::telemetry::Stats;

/// Runs the gateway until `shutdown` is cancelled.
pub async fn run(
    mut config: Config,
    config_path: Option<std::path::PathBuf>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    raise_open_files_limit();
    if config.vcenter.iter().all(|vc| vc.url.is_none()) {
        tracing::info!("no vCenter API configured: enrichment and guard are off");
    }

    let store = crate::store::open(&config.store)
        .await
        .context("opening the store")?;
    tracing::info!(backend = ?config.store.backend, "store open");
    // Bound before the stages start: with port 0 in `listen` the kernel picks
    // the port, and what is derived from `listen` (the default `external_url`
    // in alert links) must name the bound one.
    let (listener, tls) = api::server::bind(&config.http).await?;
    config.http.listen = listener.local_addr()?;
    let stats = Arc::new(Stats::new());
    // One node decides at acceptance; on PostgreSQL one decider serves
    // the cluster, so nodes commit undecided events for it.
    let (admissions, admission_inbox) =
        match config.store.backend == crate::config::StoreBackend::Sqlite {
            true => {
                let (tx, rx) = crate::pipeline::admission_channel();
                (Some(tx), Some(rx))
            }
            false => (None, None),
        };
    let (recovered, recovery) = crate::pipeline::recovery_gate(admission_inbox.is_some());
    let ingestor = Ingestor {
        store: store.clone(),
        stats: stats.clone(),
        pipeline_wake: Arc::new(Notify::new()),
        admissions,
    };
    let metrics = crate::telemetry::init_metrics();
    let stages = Supervisor::new(shutdown.clone());
    let vcenters = crate::vcenters::Vcenters::from_config(&config)?;
    let silencer = start_silencer(&config, &store, &vcenters, &stages, shutdown.clone()).await?;
    if config.store.backend == crate::config::StoreBackend::Postgres {
        stages.spawn_stage(
            "silence sync",
            sync_silences_loop(store.clone(), silencer.clone(), shutdown.clone()),
        );
    }
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
        stages.clone(),
    )
    .context("loading tokens")?
    .gated_by(recovery);

    spawn_housekeeping(&config, &store, &state, &stages, shutdown.clone());
    let wiring = crate::pipeline::Wiring {
        ingestor: ingestor.clone(),
        live,
        run_wakes,
        vcenters: vcenters.clone(),
        silencer: silencer.clone(),
        guard_wake: Arc::new(Notify::new()),
        admissions: admission_inbox,
        recovered,
    };
    spawn_stages(&config, wiring, &state, &stages, shutdown.clone()).await?;

    let result = serve_http(&config, listener, tls, state, shutdown.clone()).await;
    shutdown.cancel();
    stages.wait_stopped().await;
    tracing::info!("vcgate stopped");
    match stages.failure() {
        // The exit status tells the supervisor (systemd) to start it again.
        Some(failure) => Err(anyhow::anyhow!("{failure}")),
        None => result,
    }
}

/// Pruning of old events and silences, and of the HTTP rate-limit tables.
fn spawn_housekeeping(
    config: &Config,
    store: &crate::store::Store,
    state: &AppState,
    stages: &Supervisor,
    shutdown: CancellationToken,
) {
    stages.spawn_stage(
        "store pruning",
        prune_loop(store.clone(), config.clone(), shutdown.clone()),
    );
    let stats = state.ingestor.stats.clone();
    stages.spawn_stage(
        "HTTP rate-limit pruning",
        crate::rate_limit::prune_loop(
            vec![state.rate_limit.clone(), state.auth_failures.clone()],
            move |remembered| stats.http_rate_limit_addresses(remembered),
            shutdown,
        ),
    );
}

/// The stages behind the store: the pipeline (and through it automation and
/// monitoring), the guard, the vCenter event streams, the SNMP receiver.
async fn spawn_stages(
    config: &Config,
    wiring: crate::pipeline::Wiring,
    state: &AppState,
    tasks: &Supervisor,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (ingestor, vcenters, guard_wake) = (
        wiring.ingestor.clone(),
        wiring.vcenters.clone(),
        wiring.guard_wake.clone(),
    );
    crate::pipeline::spawn(config, wiring, tasks, shutdown.clone()).await?;
    crate::guard::spawn(
        config,
        &state.guard,
        &vcenters,
        ingestor.clone(),
        guard_wake,
        tasks,
        shutdown.clone(),
    );
    crate::ingest::vcenter_events::spawn(config, ingestor.clone(), tasks, shutdown.clone())
        .context("starting the vCenter event streams")?;
    if config.snmp.enabled {
        crate::ingest::snmp::spawn(config, ingestor, tasks, shutdown)
            .await
            .context("starting the SNMP receiver")?;
    }
    Ok(())
}

async fn serve_http(
    config: &Config,
    listener: tokio::net::TcpListener,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let stats = state.ingestor.stats.clone();
    let app = api::router(state);
    let limits = api::server::Limits::from_config(&config.http);
    tracing::info!(
        addr = %listener.local_addr()?,
        tls = tls.is_some(),
        max_connections = limits.max_connections,
        "HTTP listening"
    );
    // The store, the SNMP socket and every stage were set up before this;
    // connections made since the bind waited in the backlog. Not after a
    // stage already stopped the gateway: systemd heard STOPPING=1.
    if !shutdown.is_cancelled() {
        crate::notify::ready();
    }
    api::server::serve(listener, tls, app, limits, stats, shutdown).await;
    Ok(())
}

/// Loads the stored silences and, when maintenance silencing is on, starts the
/// maintenance poller.
async fn start_silencer(
    config: &Config,
    store: &crate::store::Store,
    vcenters: &crate::vcenters::Vcenters,
    stages: &Supervisor,
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
        stages.spawn_stage(
            "maintenance poller",
            crate::silence::maintenance::poll_loop(
                shared.clone(),
                vcenters.clone(),
                store.clone(),
                config.silence.poll,
                shutdown,
            ),
        );
    }
    Ok(crate::silence::Silencer::new(
        silences,
        maintenance,
        config.silence.inhibit.clone(),
    ))
}

/// How often a node of a PostgreSQL cluster re-reads the silences: a
/// silence made or expired through one node holds on every node (whichever
/// decides the events) within this time.
const SILENCE_SYNC_INTERVAL: Duration = Duration::from_secs(1);

/// Keeps this node's silencer equal to the stored silences, which the other
/// nodes change (with one node, the API's own refresh is enough).
async fn sync_silences_loop(
    store: crate::store::Store,
    silencer: crate::silence::Silencer,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(SILENCE_SYNC_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let since = time::OffsetDateTime::now_utc() - time::Duration::days(3650);
        match store.list_silences(since).await {
            // Compiling matchers is the cost; skip it when nothing changed.
            Ok(silences) if silences != silencer.silences() => silencer.set_silences(silences),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading the silences other nodes made failed"),
        }
    }
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

/// Raises the soft open-files limit to the hard one, so `[http]
/// max_connections` (plus the store and sockets) fits under it.
pub fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
        && let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard)
    {
        tracing::warn!(error = %e, soft, hard, "cannot raise the open-files limit");
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
