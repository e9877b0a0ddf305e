//! HTTP load generator for the alarm-hook benchmark (`scripts/bench-http.sh`).
//!
//! `--concurrency` workers, each with its own HTTP/1.1 keep-alive connection,
//! POST alarm-hook bodies to `/api/v1/alarms` back to back (closed loop: the
//! next request leaves when the previous answer is in). Every request carries
//! a fresh `delivery_id` (by default time-ordered, as the VCSA hook sends it;
//! `--delivery-ids`) and target VM, so each one is a real new event.
//! Workers stop starting requests at `--duration` (or `--max-requests`) and
//! always wait for the answer of a request they started, so the number of
//! 202 answers printed is exactly what the server must have stored.
//!
//! Prints requests, answers by status, rate, and latency percentiles (exact,
//! from every request's own measurement).
//!
//! ```text
//! cargo run --release --example hookload -- --url http://127.0.0.1:8080 \
//!     --token change-me-ingest-token --concurrency 8 --duration 10
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const MAX_DURATION: f64 = 300.0;
const MAX_CONCURRENCY: usize = 1024;
const MAX_REQUESTS: u64 = 10_000_000;

struct Args {
    url: String,
    token: String,
    concurrency: usize,
    duration: f64,
    max_requests: u64,
    tag: String,
    delivery_ids: DeliveryIds,
}

/// How each request's `delivery_id` is made. The store keeps a unique index
/// on it, so the shape decides where each insert lands in that index.
#[derive(Clone, Copy, PartialEq)]
enum DeliveryIds {
    /// A UUIDv7 (time first), what `scripts/vcsa-alarm-hook.sh` sends.
    TimeOrdered,
    /// A random UUID (v4), what hooks installed before 2026-11-30 send.
    Random,
    /// `TAG-WORKER-N`: one insertion point per worker.
    Sequence,
}

#[derive(Default)]
struct WorkerResult {
    latencies_us: Vec<u32>,
    accepted: u64,
    duplicate: u64,
    other: u64,
    errors: u64,
    first_problem: Option<String>,
}

fn usage() -> &'static str {
    "usage: hookload --url http://127.0.0.1:PORT --token TOKEN [--concurrency 8]\n\
     \x20               [--duration 10] [--max-requests 1000000] [--tag RUN_TAG]\n\
     \x20               [--delivery-ids time-ordered|random|sequence]"
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        token: String::new(),
        concurrency: 8,
        duration: 10.0,
        max_requests: 1_000_000,
        tag: format!("h{}", std::process::id()),
        delivery_ids: DeliveryIds::TimeOrdered,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--url" => args.url = value("--url")?.trim_end_matches('/').to_owned(),
            "--token" => args.token = value("--token")?,
            "--concurrency" => {
                let v = value("--concurrency")?;
                args.concurrency = v.parse().map_err(|_| format!("--concurrency {v}"))?;
            }
            "--duration" => {
                let v = value("--duration")?;
                args.duration = v.parse().map_err(|_| format!("--duration {v}"))?;
            }
            "--max-requests" => {
                let v = value("--max-requests")?;
                args.max_requests = v.parse().map_err(|_| format!("--max-requests {v}"))?;
            }
            "--tag" => args.tag = value("--tag")?,
            "--delivery-ids" => {
                args.delivery_ids = match value("--delivery-ids")?.as_str() {
                    "time-ordered" => DeliveryIds::TimeOrdered,
                    "random" => DeliveryIds::Random,
                    "sequence" => DeliveryIds::Sequence,
                    v => return Err(format!("--delivery-ids {v}")),
                }
            }
            "-h" | "--help" => return Err(usage().to_owned()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    if args.url.is_empty() || args.token.is_empty() {
        return Err(format!("--url and --token are required\n{}", usage()));
    }
    if !(1..=MAX_CONCURRENCY).contains(&args.concurrency) {
        return Err(format!("--concurrency must be 1..={MAX_CONCURRENCY}"));
    }
    if !(args.duration > 0.0 && args.duration <= MAX_DURATION) {
        return Err(format!("--duration must be in (0, {MAX_DURATION}]"));
    }
    if args.max_requests == 0 || args.max_requests > MAX_REQUESTS {
        return Err(format!("--max-requests must be 1..={MAX_REQUESTS}"));
    }
    Ok(args)
}

/// A random 128-bit value without a random-number crate: SipHash (std's
/// `RandomState`, randomly keyed per process) of the request's coordinates.
fn random_u128(tag: &str, worker: usize, n: u64) -> u128 {
    use std::hash::BuildHasher;
    static KEYS: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let keys = KEYS.get_or_init(Default::default);
    let high = keys.hash_one((tag, worker, n, 0u8));
    let low = keys.hash_one((tag, worker, n, 1u8));
    (u128::from(high) << 64) | u128::from(low)
}

fn delivery_id(ids: DeliveryIds, tag: &str, worker: usize, n: u64) -> String {
    match ids {
        DeliveryIds::TimeOrdered => uuid::Uuid::now_v7().to_string(),
        DeliveryIds::Random => {
            uuid::Builder::from_random_bytes(random_u128(tag, worker, n).to_be_bytes())
                .into_uuid()
                .to_string()
        }
        DeliveryIds::Sequence => format!("{tag}-{worker}-{n}"),
    }
}

fn body(ids: DeliveryIds, tag: &str, worker: usize, n: u64) -> String {
    serde_json::json!({
        "delivery_id": delivery_id(ids, tag, worker, n),
        "vcenter": "vc1",
        // Now, as the hook stamps a first attempt (an old `sent_at` marks a
        // possible retry, which the gateway looks up before admission).
        "sent_at": time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .expect("RFC 3339"),
        "env": {
            "VMWARE_ALARM_NAME": "VM memory usage",
            "VMWARE_ALARM_ID": "alarm-6",
            "VMWARE_ALARM_TARGET_NAME": format!("benchvm-{tag}-{worker}-{n}"),
            "VMWARE_ALARM_TARGET_ID": format!("vm-{}", 1000 + n),
            "VMWARE_ALARM_OLDSTATUS": "Green",
            "VMWARE_ALARM_NEWSTATUS": "Red",
            "VMWARE_ALARM_TRIGGERINGSUMMARY": "Metric Memory = 97%",
            "VMWARE_ALARM_EVENTDESCRIPTION": "Alarm 'VM memory usage' changed from Green to Red",
            "VMWARE_ALARM_EVENT_DATACENTER": "DC0",
        }
    })
    .to_string()
}

async fn worker(
    args: Arc<Args>,
    index: usize,
    started: Instant,
    budget: Arc<AtomicU64>,
) -> WorkerResult {
    let mut result = WorkerResult::default();
    // One client (one keep-alive connection) per worker.
    let client = match reqwest::Client::builder()
        .http1_only()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            result.errors += 1;
            result.first_problem = Some(format!("client: {e}"));
            return result;
        }
    };
    let url = format!("{}/api/v1/alarms", args.url);
    let auth = format!("Bearer {}", args.token);
    let stop_at = Duration::from_secs_f64(args.duration);
    let mut n = 0u64;
    while started.elapsed() < stop_at {
        // Claim one request from the global budget.
        if budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1))
            .is_err()
        {
            break;
        }
        n += 1;
        let payload = body(args.delivery_ids, &args.tag, index, n);
        let t0 = Instant::now();
        let answer = client
            .post(&url)
            .header("content-type", "application/json")
            .header("authorization", &auth)
            .body(payload)
            .send()
            .await;
        let status = match answer {
            Ok(resp) => {
                let status = resp.status().as_u16();
                // Read the body so the connection can be reused.
                let text = resp.text().await.unwrap_or_default();
                if status != 202 && status != 200 && result.first_problem.is_none() {
                    result.first_problem = Some(format!("HTTP {status}: {text}"));
                }
                Some(status)
            }
            Err(e) => {
                result.first_problem.get_or_insert_with(|| e.to_string());
                None
            }
        };
        let us = t0.elapsed().as_micros().min(u32::MAX as u128) as u32;
        match status {
            Some(202) => {
                result.accepted += 1;
                result.latencies_us.push(us);
            }
            Some(200) => result.duplicate += 1,
            Some(_) => result.other += 1,
            None => result.errors += 1,
        }
    }
    result
}

/// CPU seconds (user + system) this process has used, from /proc (Linux);
/// `None` elsewhere.
fn own_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields overall, in clock ticks (100 per second on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("hookload: {e}");
            return ExitCode::FAILURE;
        }
    };
    // One runtime thread, like `wrk -t1`: the load generator shares the
    // machine with the server and should take as little of it as it can.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hookload: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let results = runtime.block_on(async {
        let budget = Arc::new(AtomicU64::new(args.max_requests));
        let started = Instant::now();
        let handles: Vec<_> = (0..args.concurrency)
            .map(|i| tokio::spawn(worker(args.clone(), i, started, budget.clone())))
            .collect();
        let mut results = Vec::new();
        for h in handles {
            match h.await {
                Ok(r) => results.push(r),
                Err(e) => eprintln!("hookload: worker failed: {e}"),
            }
        }
        (results, started.elapsed())
    });
    let (results, elapsed) = results;
    let mut latencies: Vec<u32> = Vec::new();
    let (mut accepted, mut duplicate, mut other, mut errors) = (0u64, 0u64, 0u64, 0u64);
    for r in &results {
        latencies.extend_from_slice(&r.latencies_us);
        accepted += r.accepted;
        duplicate += r.duplicate;
        other += r.other;
        errors += r.errors;
        if let Some(p) = &r.first_problem {
            eprintln!("hookload: {p}");
        }
    }
    latencies.sort_unstable();
    let secs = elapsed.as_secs_f64();
    let mean = if latencies.is_empty() {
        0.0
    } else {
        latencies.iter().map(|&l| l as f64).sum::<f64>() / latencies.len() as f64 / 1000.0
    };
    println!(
        "hookload tag={} concurrency={} requests={} accepted={} duplicate={} other={} errors={} \
         elapsed_s={:.3} rate={:.0} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} max_ms={:.2} mean_ms={:.2} \
         client_cpu_pct={:.0}",
        args.tag,
        args.concurrency,
        accepted + duplicate + other + errors,
        accepted,
        duplicate,
        other,
        errors,
        secs,
        accepted as f64 / secs,
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
        mean,
        own_cpu_secs().map_or(0.0, |c| c / secs * 100.0),
    );
    if accepted == 0 || other > 0 || errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
