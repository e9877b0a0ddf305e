//! SNMP notification receiver: v1/v2c traps, v2c informs, v3 (USM) traps and
//! informs, on one UDP port, via async-snmp's `NotificationReceiver`.
//!
//! Checks, in order: every datagram passes the source filter first (allowed
//! source networks, per-source rate limit) before the library parses it, so
//! nothing — no v3 discovery Report, no inform acknowledgement — is ever sent
//! to an address outside `allowed_sources`, and a flood costs no decoding.
//! Then, in the library's acceptance-policy hook (before any inform is
//! acknowledged): community (constant-time, against `[snmp] communities`),
//! and for v3 at least authNoPriv. USM failures (unknown user, wrong digest,
//! undecryptable, not in time window) are counted from the library's own
//! counters, malformed datagrams from its discard hook. Every datagram is
//! counted as received; per-datagram warnings are sampled (`logging`).
//! Nothing here panics or stalls on input.
//!
//! Durability: the library builds an inform's Response at acceptance but
//! does not send it (`defer_inform_responses`, a vendored patch). Each inform
//! is committed by its own task, sharing the store's group commits with
//! everything else in flight, and its Response is sent only once that commit
//! is durable; if the commit fails nothing is sent and the sender retries.
//! The receive loop never waits for a commit, so a slow commit holds up
//! neither traps nor other informs. Traps (never acknowledged) are committed
//! in batches by a separate task.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_snmp::SecurityLevel;
use async_snmp::notification::{
    InformAckOutcome, Notification, NotificationAcceptance, NotificationEnvelope,
    NotificationReceiver, NotificationReceiverBuilder, PendingInformResponse,
};
use async_snmp::v3::{AuthoritativeEngine, PersistedAuthoritativeEngine};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Ingestor;
use crate::config::{self, Config, resolve_secret};
use crate::logging::{Escaped, Sampled};
use crate::model::{Event, Source};
use crate::normalize::trap::{self, SnmpVersion, TrapNotification, VPXD_DIAGNOSTIC};
use crate::rate_limit::RateLimit;
use crate::snmp_values::{from_wire, hex, oid_text, unhex};
use crate::supervisor::Supervisor;

/// One warning line per reason per this interval; counters count every one.
const WARN_EVERY: Duration = Duration::from_secs(10);
static MALFORMED_WARN: Sampled = Sampled::every(WARN_EVERY);
static INFORM_STORE_WARN: Sampled = Sampled::every(WARN_EVERY);
static TRAP_STORE_WARN: Sampled = Sampled::every(WARN_EVERY);

/// Traps waiting for their batch commit.
const TRAP_QUEUE: usize = 65_536;
/// Traps committed per write.
const TRAP_BATCH: usize = 4_096;
/// Trap batches committing at once (see `commit_traps`).
const TRAP_COMMITS_IN_FLIGHT: usize = 4;
/// How long a trap batch waits for more traps before it is committed.
const TRAP_LINGER: Duration = Duration::from_millis(5);
/// Informs being committed at once. Beyond this the receive loop waits for
/// one to finish (back-pressure, like a full trap queue) instead of holding
/// an unbounded number of events and responses in memory.
const INFORMS_IN_FLIGHT: usize = 1_024;

pub fn auth_protocol(p: config::AuthProtocol) -> async_snmp::AuthProtocol {
    use config::AuthProtocol as A;
    match p {
        A::Md5 => async_snmp::AuthProtocol::Md5,
        A::Sha => async_snmp::AuthProtocol::Sha1,
        A::Sha224 => async_snmp::AuthProtocol::Sha224,
        A::Sha256 => async_snmp::AuthProtocol::Sha256,
        A::Sha384 => async_snmp::AuthProtocol::Sha384,
        A::Sha512 => async_snmp::AuthProtocol::Sha512,
    }
}

/// net-snmp's AES-192/256 use Blumenthal key extension.
pub fn priv_protocol(p: config::PrivProtocol) -> async_snmp::PrivProtocol {
    use config::PrivProtocol as P;
    match p {
        P::Des => async_snmp::PrivProtocol::Des,
        P::Aes => async_snmp::PrivProtocol::Aes128,
        P::Aes192 => async_snmp::PrivProtocol::Aes192Blumenthal,
        P::Aes256 => async_snmp::PrivProtocol::Aes256Blumenthal,
    }
}

/// Everything the source filter and the acceptance hook need, shared with
/// the receive loop. Per-datagram counts go to atomics and are booked into
/// the stats by the counter task: no lock per datagram on the receive path.
struct Gate {
    /// Datagrams seen by the source filter (every datagram), not yet booked.
    received: AtomicU64,
    /// Datagrams refused by the source filter, not yet booked.
    not_allowed: AtomicU64,
    rate_limited: AtomicU64,
    /// Datagrams the library could not parse, not yet booked.
    malformed: AtomicU64,
    community_digests: Vec<[u8; 32]>,
    allowed_sources: Vec<IpNet>,
    rate_limit: Arc<RateLimit>,
    vcenter_by_source: HashMap<IpAddr, String>,
    default_vcenter: String,
    ingestor: Ingestor,
}

impl Gate {
    /// The source filter: runs before the library parses a datagram, so a
    /// refused address gets nothing back and costs no decoding.
    fn admit_source(&self, source: SocketAddr) -> bool {
        self.received.fetch_add(1, Ordering::Relaxed);
        let ip = source.ip();
        if !self.allowed_sources.is_empty() && !self.allowed_sources.iter().any(|n| n.contains(&ip))
        {
            self.not_allowed.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if self.rate_limit.check(ip).is_err() {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The library's discard hook: a datagram dropped with an error.
    /// Authentication failures are counted from the usmStats counters.
    fn discarded(&self, source: SocketAddr, error: &async_snmp::Error) {
        if error.kind() == async_snmp::ErrorKind::Auth {
            return;
        }
        self.malformed.fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = MALFORMED_WARN.allow() {
            let error = error.to_string();
            tracing::warn!(source = %source, error = %Escaped(&error), suppressed, "malformed SNMP datagram dropped");
        }
    }

    fn vcenter_for(&self, source: IpAddr) -> &str {
        self.vcenter_by_source
            .get(&source)
            .map(String::as_str)
            .unwrap_or(&self.default_vcenter)
    }

    fn community_ok(&self, community: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(community).into();
        self.community_digests
            .iter()
            .fold(subtle::Choice::from(0u8), |acc, d| acc | d.ct_eq(&digest))
            .into()
    }

    /// The acceptance decision: quick and side-effect free (the library calls
    /// it on the receive loop). Informs are committed later, in `commit_inform`.
    fn evaluate(&self, envelope: &NotificationEnvelope<'_>) -> NotificationAcceptance {
        let stats = &self.ingestor.stats;
        let reject = |reason| {
            stats.rejected(Source::Snmp, reason);
            NotificationAcceptance::Reject
        };
        match (envelope.community, envelope.security_level) {
            (Some(community), _) if !self.community_ok(community.as_bytes()) => {
                return reject("bad_community");
            }
            (None, Some(level)) if level < SecurityLevel::AuthNoPriv => {
                return reject("unauthenticated_v3");
            }
            _ => {}
        }
        NotificationAcceptance::Accept
    }

    fn to_event(&self, notification: &Notification, source: IpAddr) -> Option<Event> {
        let decoded = decode(notification, source)?;
        let vcenter = self.vcenter_for(source);
        if decoded.trap_oid == VPXD_DIAGNOSTIC {
            self.ingestor.stats.diagnostic(vcenter);
        }
        Some(trap::normalize(
            &decoded,
            vcenter,
            OffsetDateTime::now_utc(),
        ))
    }
}

/// The library's notification in our own (v2-form) model.
pub fn decode(notification: &Notification, source: IpAddr) -> Option<TrapNotification> {
    let trap_oid = oid_text(&notification.trap_oid().ok()?);
    let varbinds = notification.varbinds().iter().map(from_wire).collect();
    let (version, agent_address, security_name) = match notification {
        Notification::TrapV1 { trap, .. } => (
            SnmpVersion::V1,
            Some(Ipv4Addr::from(trap.agent_addr()).to_string()),
            None,
        ),
        Notification::TrapV2c { .. } | Notification::InformV2c { .. } => {
            (SnmpVersion::V2c, None, None)
        }
        Notification::TrapV3 { username, .. } | Notification::InformV3 { username, .. } => (
            SnmpVersion::V3,
            None,
            Some(String::from_utf8_lossy(username).into_owned()),
        ),
    };
    Some(TrapNotification {
        version,
        inform: notification.is_confirmed(),
        source,
        agent_address,
        trap_oid,
        uptime: notification.uptime(),
        varbinds,
        security_name,
    })
}

/// Offline decode of one v1/v2c datagram into our notification model, for
/// fixtures and fuzzing (`fuzz/`): the same library decoder and the same
/// varbind mapping the live receiver uses, without its socket and checks
/// (community, USM). `None` for anything that is not a notification.
pub fn decode_community_datagram(bytes: &[u8], source: IpAddr) -> Option<TrapNotification> {
    use async_snmp::message::{CommunityPdu, Message};
    let decoded = Message::decode(
        bytes::Bytes::copy_from_slice(bytes),
        async_snmp::DecodeConfig::default(),
    )
    .ok()?;
    let Message::Community(message) = decoded.value else {
        return None;
    };
    match message.pdu() {
        CommunityPdu::TrapV1(trap) => Some(TrapNotification {
            version: SnmpVersion::V1,
            inform: false,
            source,
            agent_address: Some(Ipv4Addr::from(trap.agent_addr()).to_string()),
            trap_oid: oid_text(&trap.v2_trap_oid().ok()?),
            uptime: trap.time_stamp(),
            varbinds: trap.varbinds().iter().map(from_wire).collect(),
            security_name: None,
        }),
        CommunityPdu::Standard(pdu) => {
            let varbinds = pdu.varbinds();
            let uptime = match varbinds.first().map(|vb| &vb.value) {
                Some(async_snmp::Value::TimeTicks(t)) => *t,
                _ => return None,
            };
            let trap_oid = match varbinds.get(1).map(|vb| &vb.value) {
                Some(async_snmp::Value::ObjectIdentifier(oid)) => oid_text(oid),
                _ => return None,
            };
            Some(TrapNotification {
                version: SnmpVersion::V2c,
                inform: pdu.pdu_type() == async_snmp::PduType::InformRequest,
                source,
                agent_address: None,
                trap_oid,
                uptime,
                varbinds: varbinds[2..].iter().map(from_wire).collect(),
                security_name: None,
            })
        }
    }
}

/// Starts the receiver, the trap batcher and the rejection-counter task.
pub async fn spawn(
    config: &Config,
    ingestor: Ingestor,
    tasks: &Supervisor,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let snmp = &config.snmp;
    let requested_buffer = usize::try_from(snmp.recv_buffer.0).unwrap_or(usize::MAX);
    let builder = NotificationReceiver::builder()
        .bind(snmp.listen.to_string())
        .recv_buffer_size(Some(requested_buffer));
    let builder = with_users(builder, config)?;
    let gate = Arc::new(Gate::new(config, ingestor.clone()));
    let receiver = bind(builder, &gate, snmp).await?;
    report_listening(&receiver, requested_buffer, snmp, &ingestor)?;

    let (trap_tx, trap_rx) = mpsc::channel::<(Notification, IpAddr)>(TRAP_QUEUE);
    tasks.spawn_stage(
        "SNMP receiver",
        receive_loop(
            receiver.clone(),
            trap_tx,
            gate.clone(),
            TaskTracker::clone(tasks),
            shutdown.clone(),
        ),
    );
    tasks.spawn_stage("SNMP trap batcher", commit_traps(trap_rx, gate.clone()));
    // The count reaches the status from `book_counters`, every 250 ms.
    tasks.spawn_stage(
        "SNMP rate-limit pruning",
        crate::rate_limit::prune_loop(vec![gate.rate_limit.clone()], |_| {}, shutdown.clone()),
    );
    tasks.spawn_stage(
        "SNMP counters",
        book_counters(receiver, ingestor, gate, shutdown),
    );
    Ok(())
}

/// Adds the v3 engine and USM users (`[[snmp.user]]`), if any.
fn with_users(
    mut builder: NotificationReceiverBuilder,
    config: &Config,
) -> anyhow::Result<NotificationReceiverBuilder> {
    let snmp = &config.snmp;
    if snmp.user.is_empty() {
        return Ok(builder);
    }
    let engine_file = config.store.path.with_file_name("snmp-engine.json");
    builder = builder.authoritative_engine(load_engine(&engine_file, snmp.engine_id.as_deref())?);
    for (i, user) in snmp.user.iter().enumerate() {
        let key = format!("snmp.user[{i}]");
        let auth = resolve_secret(
            &format!("{key}.auth_password"),
            &user.auth_password,
            &user.auth_password_file,
            &user.auth_password_env,
        )?;
        let privacy = resolve_secret(
            &format!("{key}.priv_password"),
            &user.priv_password,
            &user.priv_password_file,
            &user.priv_password_env,
        )?;
        let (Some(auth_proto), Some(auth)) = (user.auth_protocol, auth) else {
            anyhow::bail!("{key}: auth_protocol and auth_password are required");
        };
        builder = builder
            .usm_user(user.name.clone(), |u| {
                match (user.priv_protocol, &privacy) {
                    (Some(pp), Some(pass)) => u.auth_priv(
                        auth_protocol(auth_proto),
                        auth.expose(),
                        priv_protocol(pp),
                        pass.expose(),
                    ),
                    _ => u.auth(auth_protocol(auth_proto), auth.expose()),
                }
            })
            .with_context(|| {
                format!("{key}: invalid credentials (passwords must be at least 8 characters)")
            })?;
    }
    Ok(builder)
}

impl Gate {
    fn new(config: &Config, ingestor: Ingestor) -> Self {
        let snmp = &config.snmp;
        let mut vcenter_by_source = HashMap::new();
        for vc in &config.vcenter {
            for ip in &vc.snmp_sources {
                vcenter_by_source.insert(*ip, vc.name.clone());
            }
        }
        Gate {
            received: AtomicU64::new(0),
            not_allowed: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            community_digests: snmp
                .communities
                .iter()
                .map(|c| Sha256::digest(c.expose().as_bytes()).into())
                .collect(),
            allowed_sources: snmp.allowed_sources.clone(),
            rate_limit: Arc::new(RateLimit::new(
                snmp.rate_limit,
                snmp.rate_burst,
                snmp.rate_limit_max_addresses,
            )),
            vcenter_by_source,
            default_vcenter: snmp.default_vcenter.clone(),
            ingestor,
        }
    }
}

/// Binds the receiver with the gate's hooks (source filter, discard hook,
/// acceptance policy) and deferred inform responses.
async fn bind(
    builder: NotificationReceiverBuilder,
    gate: &Arc<Gate>,
    snmp: &config::SnmpConfig,
) -> anyhow::Result<NotificationReceiver> {
    let (policy_gate, filter_gate, discard_gate) = (gate.clone(), gate.clone(), gate.clone());
    builder
        .source_filter(move |source| filter_gate.admit_source(source))
        .discard_hook(move |source, error| discard_gate.discarded(source, error))
        .acceptance_policy(move |envelope| policy_gate.evaluate(envelope))
        .defer_inform_responses(true)
        .build()
        .await
        .with_context(|| format!("binding SNMP receiver on {}", snmp.listen))
}

/// Logs the bound address and the receive buffer the kernel granted (with a
/// warning when it capped the request), and shows them in the status.
fn report_listening(
    receiver: &NotificationReceiver,
    requested_buffer: usize,
    snmp: &config::SnmpConfig,
    ingestor: &Ingestor,
) -> anyhow::Result<()> {
    let granted_buffer = receiver
        .recv_buffer_size()
        .context("reading the SNMP socket's receive buffer size")?;
    tracing::info!(addr = %receiver.local_addr(), users = snmp.user.len(), recv_buffer = granted_buffer, "SNMP listening");
    if granted_buffer < requested_buffer {
        tracing::warn!(
            requested = requested_buffer,
            granted = granted_buffer,
            "the kernel capped the SNMP receive buffer; trap bursts beyond it are dropped \
             before vcgate sees them; raise net.core.rmem_max (see README, SNMP setup)"
        );
    }
    ingestor
        .stats
        .snmp_listening(crate::telemetry::SnmpListener {
            listen: receiver.local_addr(),
            recv_buffer_bytes: granted_buffer,
            rate_limit_addresses: 0,
        });
    Ok(())
}

/// Only receives: normalizing happens in `commit_traps` and `commit_inform`,
/// so the task that must keep up with the socket does as little as possible
/// per datagram, and never waits for a commit.
async fn receive_loop(
    receiver: NotificationReceiver,
    traps: mpsc::Sender<(Notification, IpAddr)>,
    gate: Arc<Gate>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
) {
    let informs = Arc::new(Semaphore::new(INFORMS_IN_FLIGHT));
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = receiver.recv() => r,
        };
        match received {
            Ok(received) if received.notification.is_confirmed() => {
                let Ok(permit) = informs.clone().acquire_owned().await else {
                    return;
                };
                let pending = match received.inform_ack {
                    Some(InformAckOutcome::Deferred(pending)) => Some(pending),
                    // No response can be sent (too big for the sender, or
                    // not constructible); the event is still stored.
                    _ => None,
                };
                let gate = gate.clone();
                tasks.spawn(async move {
                    commit_inform(&gate, &received.notification, received.source.ip(), pending)
                        .await;
                    drop(permit);
                });
            }
            Ok(received) => {
                if traps
                    .send((received.notification, received.source.ip()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "SNMP receive error");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Commits one inform and, once the commit holding it is durable, sends its
/// Response. Many run at once; the store's writer groups their commits (and
/// the trap batches) into shared transactions. A failed commit sends nothing:
/// the sender retries.
async fn commit_inform(
    gate: &Gate,
    notification: &Notification,
    source: IpAddr,
    response: Option<PendingInformResponse>,
) {
    let stats = &gate.ingestor.stats;
    let Some(event) = gate.to_event(notification, source) else {
        stats.rejected(Source::Snmp, "malformed");
        return;
    };
    if let Err(e) = gate.ingestor.accept(event).await {
        if let Some(suppressed) = INFORM_STORE_WARN.allow() {
            tracing::warn!(error = %e, suppressed, "inform not acknowledged: store unavailable");
        }
        stats.rejected(Source::Snmp, "store_unavailable");
        return;
    }
    if let Some(response) = response
        && let InformAckOutcome::Failed(e) = response.send().await
    {
        // Stored; the sender did not hear so and will retry.
        tracing::debug!(error = %e, source = %source, "inform response not sent");
    }
}

/// Normalizes and commits queued traps in batches; exits when the receive
/// loop has stopped, the queue is drained and every batch is committed, so
/// shutdown loses nothing that was queued. Up to [`TRAP_COMMITS_IN_FLIGHT`]
/// batches commit at once: the next batch is normalized and handed over
/// while earlier ones commit (one batch at a time, the stages ran one after
/// the other and capped the rate near 20,000/s with a core idle).
async fn commit_traps(mut rx: mpsc::Receiver<(Notification, IpAddr)>, gate: Arc<Gate>) {
    let ingestor = &gate.ingestor;
    let mut batch = Vec::with_capacity(TRAP_BATCH);
    let mut in_flight = FuturesUnordered::new();
    loop {
        tokio::select! {
            biased;
            Some((n, result)) = in_flight.next(), if !in_flight.is_empty() => {
                book_trap_commit(ingestor, n, result);
                continue;
            }
            taken = rx.recv_many(&mut batch, TRAP_BATCH),
                if in_flight.len() < TRAP_COMMITS_IN_FLIGHT =>
            {
                if taken == 0 {
                    break;
                }
            }
        }
        // A trap needs no answer, so gather what arrives in the next few
        // milliseconds into the same commit: at a steady 5k/s this turns
        // thousands of tiny commits (each a WAL write and an fsync) into a
        // few hundred. Informs do not come this way (each commits in its own
        // task, `commit_inform`, before its acknowledgement).
        let linger = tokio::time::sleep(TRAP_LINGER);
        tokio::pin!(linger);
        while batch.len() < TRAP_BATCH {
            let room = TRAP_BATCH - batch.len();
            tokio::select! {
                _ = &mut linger => break,
                n = rx.recv_many(&mut batch, room) => if n == 0 { break },
            }
        }
        let queued = batch.len();
        let events: Vec<Event> = batch
            .drain(..)
            .filter_map(|(n, source)| gate.to_event(&n, source))
            .collect();
        ingestor
            .stats
            .rejected_n(Source::Snmp, "malformed", (queued - events.len()) as u64);
        let n = events.len() as u64;
        match ingestor.submit_many(events).await {
            Ok(commit) => in_flight.push(async move { (n, commit.await) }),
            Err(e) => book_trap_commit::<()>(ingestor, n, Err(e)),
        }
    }
    while let Some((n, result)) = in_flight.next().await {
        book_trap_commit(ingestor, n, result);
    }
}

/// Counts a trap batch the store could not take (a stored one is counted
/// by the ingestor).
fn book_trap_commit<T>(ingestor: &Ingestor, n: u64, result: Result<T, crate::store::StoreError>) {
    if let Err(e) = result {
        if let Some(suppressed) = TRAP_STORE_WARN.allow() {
            tracing::warn!(error = %e, dropped = n, suppressed, "traps not stored: store unavailable");
        }
        ingestor
            .stats
            .rejected_n(Source::Snmp, "store_unavailable", n);
    }
}

/// Books the gate's per-datagram counts and the library's own rejection
/// counters (USM failures) into our stats as they grow.
async fn book_counters(
    receiver: NotificationReceiver,
    ingestor: Ingestor,
    gate: Arc<Gate>,
    shutdown: CancellationToken,
) {
    // usmStatsUnknownEngineIDs is left out on purpose: that report is the
    // normal first step of every v3 inform (engine discovery), not a rejection.
    let mut last = [0u64; 5];
    const REASONS: [&str; 5] = [
        "unknown_user",
        "wrong_digest",
        "decryption_error",
        "not_in_time_window",
        "unsupported_security_level",
    ];
    loop {
        let stopping = tokio::select! {
            _ = shutdown.cancelled() => true,
            _ = tokio::time::sleep(Duration::from_millis(250)) => false,
        };
        let stats = &ingestor.stats;
        // Received first, so a status read never shows more rejected than received.
        stats.received_n(Source::Snmp, gate.received.swap(0, Ordering::Relaxed));
        let take = |counter: &AtomicU64| counter.swap(0, Ordering::Relaxed);
        stats.rejected_n(Source::Snmp, "source_not_allowed", take(&gate.not_allowed));
        stats.rejected_n(Source::Snmp, "rate_limited", take(&gate.rate_limited));
        stats.rejected_n(Source::Snmp, "malformed", take(&gate.malformed));
        let now = [
            u64::from(receiver.usm_unknown_usernames()),
            u64::from(receiver.usm_wrong_digests()),
            u64::from(receiver.usm_decryption_errors()),
            u64::from(receiver.usm_not_in_time_windows()),
            u64::from(receiver.usm_unsupported_sec_levels()),
        ];
        for ((now, last), reason) in now.iter().zip(&last).zip(REASONS) {
            stats.rejected_n(Source::Snmp, reason, now.saturating_sub(*last));
        }
        last = now;
        stats.snmp_rate_limit_addresses(gate.rate_limit.addresses());
        if stopping {
            return;
        }
    }
}

/// The local SNMPv3 engine (used for informs), persisted beside the database:
/// its id stays stable and its boot counter grows on every start (RFC 3414).
pub fn load_engine(
    path: &Path,
    configured_id: Option<&str>,
) -> anyhow::Result<AuthoritativeEngine> {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Saved {
        engine_id: String,
        boots: u32,
    }
    let persist_path: PathBuf = path.to_owned();
    let persist = move |state: &PersistedAuthoritativeEngine| -> Result<(), std::io::Error> {
        let saved = Saved {
            engine_id: hex(state.engine_id()),
            boots: state.engine_boots(),
        };
        crate::store::files::write_private(
            &persist_path,
            &serde_json::to_vec(&saved).map_err(std::io::Error::other)?,
        )
    };
    let saved: Option<Saved> = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let configured = configured_id
        .map(|id| unhex(id.trim_start_matches("0x")).context("snmp.engine_id must be hex"))
        .transpose()?;
    let engine = match saved {
        Some(saved)
            if configured
                .as_ref()
                .is_none_or(|c| hex(c) == saved.engine_id) =>
        {
            let id = unhex(&saved.engine_id).context("corrupt snmp-engine.json")?;
            AuthoritativeEngine::restart(
                PersistedAuthoritativeEngine::new(id, saved.boots)?,
                persist,
            )?
        }
        _ => {
            let id = configured.unwrap_or_else(|| {
                // RFC 3411 format: enterprise with high bit, format 5 (octets), random tail.
                let mut id = vec![0x80, 0x00, 0x1a, 0xdc, 0x05];
                id.extend_from_slice(&uuid::Uuid::now_v7().as_bytes()[8..]);
                id
            });
            AuthoritativeEngine::install(id, persist)?
        }
    };
    Ok(engine)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!(
            "{}/tests/fixtures/traps/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    }

    #[test]
    fn captured_net_snmp_packets_decode_and_normalize() {
        let source: IpAddr = "10.1.2.3".parse().unwrap();
        let v2c = decode_community_datagram(&fixture("v2c-alarminfo-vm-red.bin"), source).unwrap();
        let e = crate::normalize::trap::normalize(&v2c, "vc1", OffsetDateTime::now_utc());
        assert_eq!(e.entity.name.as_deref(), Some("testvm01"));
        assert_eq!(
            e.alarm.as_ref().unwrap().name.as_deref(),
            Some("alarm.VmMemoryUsageAlarm")
        );
        let v1 =
            decode_community_datagram(&fixture("v1-alarminfo-host-yellow.bin"), source).unwrap();
        assert_eq!(
            v1.trap_oid,
            crate::normalize::trap::VPXD_ALARM_INFO,
            "RFC 3584 mapping"
        );
        assert_eq!(v1.agent_address.as_deref(), Some("127.0.0.1"));
        let inform =
            decode_community_datagram(&fixture("v2c-inform-alarminfo.bin"), source).unwrap();
        assert!(inform.inform);
        let diag = decode_community_datagram(&fixture("v2c-diagnostic.bin"), source).unwrap();
        assert_eq!(diag.trap_oid, crate::normalize::trap::VPXD_DIAGNOSTIC);
        assert!(
            decode_community_datagram(&fixture("v3-authpriv-sha-aes.bin"), source).is_none(),
            "v3 needs USM"
        );
    }

    proptest! {
        /// Arbitrary bytes, and every truncation or single-byte corruption of a
        /// real packet, go through decode → normalize without panicking.
        #[test]
        fn decode_normalize_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), cut in 0usize..200, flip in 0usize..200, value in any::<u8>()) {
            let source: IpAddr = "10.0.0.1".parse().unwrap();
            if let Some(n) = decode_community_datagram(&bytes, source) {
                crate::normalize::trap::normalize(&n, "vc1", OffsetDateTime::now_utc());
            }
            let mut packet = fixture("v2c-alarminfo-vm-red.bin");
            let i = flip % packet.len();
            packet[i] = value;
            packet.truncate(packet.len() - cut % packet.len());
            if let Some(n) = decode_community_datagram(&packet, source) {
                crate::normalize::trap::normalize(&n, "vc1", OffsetDateTime::now_utc());
            }
        }
    }
}
