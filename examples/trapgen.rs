//! UDP load generator for the SNMP benchmark (`scripts/bench-snmp.sh`).
//!
//! Pre-encodes `--count` distinct SNMPv2c vpxdAlarmInfo traps (one per
//! target VM `benchvm-<tag>-<i>`, so dedup never merges them and every trap is
//! real work), then sends them to `--target` at a fixed rate, paced in small
//! bursts on a fine tick, for at most `--count` traps and `--duration`
//! seconds, whichever ends first. Prints what it sent and the achieved rate.
//!
//! ```text
//! cargo run --release --example trapgen -- --target 127.0.0.1:1162 \
//!     --rate 20000 --duration 3 --tag run42
//! ```
//!
//! Only loopback/private use: this is a load generator, keep it on 127.0.0.1.

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[path = "support/vpxd.rs"]
mod vpxd;

/// Hard bounds so a typo cannot turn this into an unbounded flood.
const MAX_COUNT: u64 = 5_000_000;
const MAX_DURATION: f64 = 120.0;
const MAX_RATE: u64 = 2_000_000;

struct Args {
    target: SocketAddr,
    rate: u64,
    count: u64,
    duration: f64,
    tag: String,
    community: String,
    tick_us: u64,
}

fn usage() -> &'static str {
    "usage: trapgen --target HOST:PORT --rate TRAPS_PER_SEC [--duration SECS] [--count N]\n\
     \x20              [--tag RUN_TAG] [--community public] [--tick-us 250]\n\
     Sends min(count, rate*duration) distinct vpxdAlarmInfo v2c traps at a fixed rate.\n\
     Defaults: --duration 3, --count rate*duration, --tag pid-based, --tick-us 250."
}

fn parse_args() -> Result<Args, String> {
    let mut target: Option<SocketAddr> = None;
    let mut rate: Option<u64> = None;
    let mut count: Option<u64> = None;
    let mut duration = 3.0f64;
    let mut tag = format!("t{}", std::process::id());
    let mut community = "public".to_owned();
    let mut tick_us = 250u64;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--target" => {
                let v = value("--target")?;
                target = Some(
                    std::net::ToSocketAddrs::to_socket_addrs(&v)
                        .map_err(|e| format!("--target {v}: {e}"))?
                        .next()
                        .ok_or_else(|| format!("--target {v}: no address"))?,
                );
            }
            "--rate" => rate = Some(num(&value("--rate")?)?),
            "--count" => count = Some(num(&value("--count")?)?),
            "--duration" => {
                let v = value("--duration")?;
                duration = v
                    .parse()
                    .map_err(|_| format!("--duration {v}: not a number"))?;
            }
            "--tag" => tag = value("--tag")?,
            "--community" => community = value("--community")?,
            "--tick-us" => tick_us = num(&value("--tick-us")?)?,
            "-h" | "--help" => return Err(usage().to_owned()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    let target = target.ok_or_else(|| format!("--target is required\n{}", usage()))?;
    let rate = rate.ok_or_else(|| format!("--rate is required\n{}", usage()))?;
    if rate == 0 || rate > MAX_RATE {
        return Err(format!("--rate must be 1..={MAX_RATE}"));
    }
    if !(duration > 0.0 && duration <= MAX_DURATION) {
        return Err(format!("--duration must be in (0, {MAX_DURATION}]"));
    }
    if !(50..=10_000).contains(&tick_us) {
        return Err("--tick-us must be 50..=10000".to_owned());
    }
    let by_time = (rate as f64 * duration).ceil() as u64;
    let count = count.unwrap_or(by_time).min(by_time).min(MAX_COUNT);
    if count == 0 {
        return Err("nothing to send (count 0)".to_owned());
    }
    if tag.is_empty() || !tag.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("--tag must be [A-Za-z0-9_]+".to_owned());
    }
    Ok(Args {
        target,
        rate,
        count,
        duration,
        tag,
        community,
        tick_us,
    })
}

fn num(text: &str) -> Result<u64, String> {
    text.replace('_', "")
        .parse()
        .map_err(|_| format!("{text}: not a non-negative integer"))
}

fn run(args: Args) -> Result<(), String> {
    let encoder = vpxd::AlarmInfoEncoder::new(&args.community, false)?;
    let vm_prefix = format!("benchvm-{}", args.tag);

    let encode_start = Instant::now();
    let mut datagrams = Vec::with_capacity(args.count as usize);
    for i in 0..args.count {
        let request_id = (i % i32::MAX as u64) as i32 + 1;
        datagrams.push(encoder.encode(&vm_prefix, i, request_id)?);
    }
    let bytes: usize = datagrams.iter().map(Vec::len).sum();
    eprintln!(
        "trapgen: encoded {} traps ({} bytes each on average) in {:.2?}",
        datagrams.len(),
        bytes / datagrams.len(),
        encode_start.elapsed()
    );

    let bind = if args.target.is_ipv6() {
        "[::1]:0"
    } else {
        "127.0.0.1:0"
    };
    let socket = UdpSocket::bind(bind).map_err(|e| format!("binding sender socket: {e}"))?;
    socket
        .connect(args.target)
        .map_err(|e| format!("connecting to {}: {e}", args.target))?;

    // Pacing: on every tick send what is due by now (rate * elapsed), in one
    // burst, then sleep to the next tick. The burst is capped at what a few
    // ticks would carry, so a late wakeup never turns into a flood.
    let tick = Duration::from_micros(args.tick_us);
    let max_burst = ((args.rate as f64 * tick.as_secs_f64()) * 4.0)
        .ceil()
        .max(1.0) as u64;
    let deadline = Duration::from_secs_f64(args.duration + 1.0);
    let (mut sent, mut errors) = (0u64, 0u64);
    let mut first_error: Option<String> = None;
    let start = Instant::now();
    let mut next_tick = start;
    while sent < args.count {
        let elapsed = start.elapsed();
        if elapsed > deadline {
            break;
        }
        let due = ((args.rate as f64 * elapsed.as_secs_f64()) as u64 + 1).min(args.count);
        let burst_end = due.min(sent + max_burst);
        while sent < burst_end {
            if let Err(e) = socket.send(&datagrams[sent as usize]) {
                errors += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
            sent += 1;
        }
        next_tick += tick;
        let now = Instant::now();
        if next_tick > now {
            std::thread::sleep(next_tick - now);
        } else {
            next_tick = now;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let delivered = sent - errors;
    println!(
        "trapgen tag={} target={} offered_rate={} sent={} send_errors={} elapsed_s={:.3} achieved_rate={:.0}",
        args.tag,
        args.target,
        args.rate,
        delivered,
        errors,
        elapsed,
        delivered as f64 / elapsed
    );
    if let Some(e) = first_error {
        eprintln!("trapgen: first send error: {e}");
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("trapgen: {e}");
            ExitCode::FAILURE
        }
    }
}
