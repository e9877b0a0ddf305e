//! SNMPv2c inform load generator for the SNMP benchmark (`scripts/bench-snmp.sh`).
//!
//! `--concurrency` senders, each with its own UDP socket (its own source
//! port, like separate ESXi hosts), send vpxdAlarmInfo informs in a closed
//! loop: the next one leaves when the previous one is acknowledged (a Response
//! with its request id). Every inform names its own VM, so each is a new
//! event. An unanswered inform is resent after `--timeout-ms`, up to
//! `--retries` times (as net-snmp does), then counted as failed. Senders stop
//! starting informs at `--duration` and finish the one in flight.
//!
//! Prints informs acknowledged, retransmissions, failures, the rate and the
//! latency percentiles (send → Response, including any resends).
//!
//! ```text
//! cargo run --release --example informgen -- --target 127.0.0.1:1162 \
//!     --concurrency 50 --duration 10 --tag run42
//! ```
//!
//! Only loopback/private use: this is a load generator, keep it on 127.0.0.1.

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[path = "support/vpxd.rs"]
mod vpxd;

const MAX_CONCURRENCY: usize = 1_000;
const MAX_DURATION: f64 = 120.0;

struct Args {
    target: SocketAddr,
    concurrency: usize,
    duration: f64,
    timeout: Duration,
    retries: u32,
    tag: String,
    community: String,
}

#[derive(Default)]
struct Worker {
    latencies_us: Vec<u64>,
    retransmits: u64,
    failed: u64,
    first_problem: Option<String>,
}

fn usage() -> &'static str {
    "usage: informgen --target HOST:PORT [--concurrency 50] [--duration 10] [--timeout-ms 1000]\n\
     \x20                [--retries 2] [--tag RUN_TAG] [--community public]"
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        target: "127.0.0.1:1162".parse().unwrap(),
        concurrency: 50,
        duration: 10.0,
        timeout: Duration::from_millis(1000),
        retries: 2,
        tag: format!("i{}", std::process::id()),
        community: "public".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        let bad = |name: &str, v: &str| format!("{name} {v}: invalid");
        match flag.as_str() {
            "--target" => {
                let v = value("--target")?;
                args.target = v.parse().map_err(|_| bad("--target", &v))?;
            }
            "--concurrency" => {
                let v = value("--concurrency")?;
                args.concurrency = v.parse().map_err(|_| bad("--concurrency", &v))?;
            }
            "--duration" => {
                let v = value("--duration")?;
                args.duration = v.parse().map_err(|_| bad("--duration", &v))?;
            }
            "--timeout-ms" => {
                let v = value("--timeout-ms")?;
                args.timeout =
                    Duration::from_millis(v.parse().map_err(|_| bad("--timeout-ms", &v))?);
            }
            "--retries" => {
                let v = value("--retries")?;
                args.retries = v.parse().map_err(|_| bad("--retries", &v))?;
            }
            "--tag" => args.tag = value("--tag")?,
            "--community" => args.community = value("--community")?,
            "-h" | "--help" => return Err(usage().to_owned()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    if !(1..=MAX_CONCURRENCY).contains(&args.concurrency) {
        return Err(format!("--concurrency must be 1..={MAX_CONCURRENCY}"));
    }
    if !(args.duration > 0.0 && args.duration <= MAX_DURATION) {
        return Err(format!("--duration must be in (0, {MAX_DURATION}]"));
    }
    if args.timeout.is_zero() {
        return Err("--timeout-ms must be positive".into());
    }
    Ok(args)
}

/// The request id of a v2c Response datagram, if it is one.
fn response_request_id(datagram: &[u8]) -> Option<i32> {
    use async_snmp::message::{CommunityPdu, Message};
    let decoded = Message::decode(
        bytes::Bytes::copy_from_slice(datagram),
        async_snmp::DecodeConfig::default(),
    )
    .ok()?;
    let Message::Community(message) = decoded.value else {
        return None;
    };
    match message.pdu() {
        CommunityPdu::Standard(pdu) if pdu.pdu_type() == async_snmp::PduType::Response => {
            Some(pdu.request_id())
        }
        _ => None,
    }
}

/// Sends one inform and waits for its Response, resending on timeout.
/// Ok(resends) once acknowledged; Err after the last resend timed out.
fn send_one(
    socket: &UdpSocket,
    datagram: &[u8],
    request_id: i32,
    args: &Args,
) -> Result<u32, String> {
    let mut buf = [0u8; 2048];
    for attempt in 0..=args.retries {
        socket.send(datagram).map_err(|e| format!("send: {e}"))?;
        let deadline = Instant::now() + args.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            socket
                .set_read_timeout(Some(left))
                .map_err(|e| e.to_string())?;
            match socket.recv(&mut buf) {
                Ok(n) if response_request_id(&buf[..n]) == Some(request_id) => return Ok(attempt),
                Ok(_) => {} // a late Response to an earlier resend, or noise
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(format!("recv: {e}")),
            }
        }
    }
    Err(format!("no Response after {} sends", args.retries + 1))
}

fn worker(args: &Args, next: &AtomicU64, stop_at: Instant) -> Worker {
    let mut result = Worker::default();
    let encoder = match vpxd::AlarmInfoEncoder::new(&args.community, true) {
        Ok(e) => e,
        Err(e) => {
            result.first_problem = Some(e);
            return result;
        }
    };
    let vm_prefix = format!("benchinform-{}", args.tag);
    let socket = match UdpSocket::bind("127.0.0.1:0").and_then(|s| {
        s.connect(args.target)?;
        Ok(s)
    }) {
        Ok(s) => s,
        Err(e) => {
            result.first_problem = Some(format!("socket: {e}"));
            return result;
        }
    };
    while Instant::now() < stop_at {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let request_id = (i % i32::MAX as u64) as i32 + 1;
        let datagram = match encoder.encode(&vm_prefix, i, request_id) {
            Ok(d) => d,
            Err(e) => {
                result.first_problem.get_or_insert(e);
                break;
            }
        };
        let sent = Instant::now();
        match send_one(&socket, &datagram, request_id, args) {
            Ok(resends) => {
                result.latencies_us.push(sent.elapsed().as_micros() as u64);
                result.retransmits += u64::from(resends);
            }
            Err(e) => {
                result.failed += 1;
                result.retransmits += u64::from(args.retries);
                result.first_problem.get_or_insert(e);
            }
        }
    }
    result
}

fn percentile_ms(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 * p).ceil() as usize).clamp(1, sorted_us.len()) - 1;
    sorted_us[i] as f64 / 1000.0
}

fn run(args: Args) -> Result<bool, String> {
    let args = Arc::new(args);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let stop_at = start + Duration::from_secs_f64(args.duration);
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (args, next) = (args.clone(), next.clone());
            std::thread::spawn(move || worker(&args, &next, stop_at))
        })
        .collect();
    let mut latencies = Vec::new();
    let (mut retransmits, mut failed) = (0u64, 0u64);
    let mut first_problem = None;
    for w in workers {
        let w = w
            .join()
            .map_err(|_| "a sender thread panicked".to_owned())?;
        latencies.extend(w.latencies_us);
        retransmits += w.retransmits;
        failed += w.failed;
        first_problem = first_problem.or(w.first_problem);
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    println!(
        "informgen tag={} target={} concurrency={} sent={} acknowledged={} retransmits={} failed={} elapsed_s={:.3} rate={:.0} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        args.tag,
        args.target,
        args.concurrency,
        next.load(Ordering::Relaxed),
        latencies.len(),
        retransmits,
        failed,
        elapsed,
        latencies.len() as f64 / elapsed,
        percentile_ms(&latencies, 0.50),
        percentile_ms(&latencies, 0.90),
        percentile_ms(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0) as f64 / 1000.0,
    );
    if let Some(problem) = &first_problem {
        eprintln!("informgen: first problem: {problem}");
    }
    Ok(failed == 0 && first_problem.is_none())
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("informgen: {e}");
            ExitCode::FAILURE
        }
    }
}
