//! Heap allocations per event on the hot path, counted (not timed): the
//! number issue 19 asks to keep to a handful. `cargo bench --bench
//! allocations` (also run by `scripts/bench-snmp.sh`).
//!
//! Counted with `dhat` as the global allocator in its testing mode (no
//! profile file is written): every allocation between two readings of
//! `HeapStats::total_blocks`, averaged over many events so one-off
//! warm-up allocations (a first HashMap growth) do not count. The stages
//! are the ones a trap or a hook alarm passes through on this process's
//! CPU before the store: the SNMP library's BER decode with our varbind
//! mapping, normalization, the dedup verdict and the pipeline decision,
//! and the row's JSON encoding. The store's own work (SQLite) is not
//! counted here; the profile in `docs/performance.md` shows its share.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use time::OffsetDateTime;
use vcgate::config::Config;
use vcgate::dedup::Dedup;
use vcgate::ingest::snmp::decode_community_datagram;
use vcgate::model::Event;
use vcgate::normalize::{alarm_hook, trap};
use vcgate::settings::Settings;
use vcgate::silence::Silencer;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const EVENTS: u64 = 2_000;

/// The trap `scripts/bench-snmp.sh` sends (vpxdAlarmInfo, v2c), as net-snmp
/// encodes it.
const TRAP: &[u8] = include_bytes!("../tests/fixtures/traps/v2c-alarminfo-vm-red.bin");

fn blocks() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// Allocations per call of `f`, over `EVENTS` calls with distinct inputs.
fn per_event<T>(mut f: impl FnMut(u64) -> T) -> f64 {
    // Warm-up: first-use allocations (lazy statics, table growth) are not per event.
    for i in 0..100 {
        std::hint::black_box(f(u64::MAX - i));
    }
    let before = blocks();
    for i in 0..EVENTS {
        std::hint::black_box(f(i));
    }
    (blocks() - before) as f64 / EVENTS as f64
}

fn hook_body(n: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "delivery_id": format!("bench-{n}"),
        "vcenter": "vc1",
        "sent_at": "2026-11-25T10:00:00Z",
        "env": {
            "VMWARE_ALARM_NAME": "VM memory usage",
            "VMWARE_ALARM_ID": "alarm-6",
            "VMWARE_ALARM_TARGET_NAME": format!("benchvm-{n}"),
            "VMWARE_ALARM_TARGET_ID": format!("vm-{n}"),
            "VMWARE_ALARM_OLDSTATUS": "Green",
            "VMWARE_ALARM_NEWSTATUS": "Red",
            "VMWARE_ALARM_TRIGGERINGSUMMARY": "Metric Memory = 97%",
            "VMWARE_ALARM_EVENTDESCRIPTION": "Alarm 'VM memory usage' changed from Green to Red",
            "VMWARE_ALARM_EVENT_DATACENTER": "DC0",
        }
    }))
    .expect("json")
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let source = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let now = OffsetDateTime::now_utc();
    let config = Config::default();
    let settings = Settings::from_config(&config).expect("default settings");
    let silencer = Silencer::new(Vec::new(), None, Vec::new());
    let targets = Vec::new();
    let mut dedup = Dedup::new(
        Duration::from_secs(300),
        Duration::from_secs(14_400),
        100_000,
    );

    let traps: Vec<Event> = (0..EVENTS)
        .map(|_| {
            trap::normalize(
                &decode_community_datagram(TRAP, source).expect("trap"),
                "vc1",
                now,
            )
        })
        .collect();
    let bodies: Vec<Vec<u8>> = (0..EVENTS).map(hook_body).collect();

    let decode = per_event(|_| decode_community_datagram(TRAP, source));
    let decoded = decode_community_datagram(TRAP, source).expect("trap");
    let normalize_trap = per_event(|_| trap::normalize(&decoded, "vc1", now));
    // The part of trap normalize that keeps the notification as the
    // event's `raw` (its JSON text); printed on its own line.
    let raw_text = per_event(|_| vcgate::model::RawPayload::encode(&decoded));
    let normalize_hook = per_event(|n| {
        let body = &bodies[(n % EVENTS) as usize];
        alarm_hook::normalize(body, "vc1", now).expect("hook body")
    });
    let decide = per_event(|n| {
        let event = &traps[(n % EVENTS) as usize];
        let verdict = dedup.observe(event, now);
        vcgate::pipeline::decide(event, verdict, &settings, &silencer, &targets, now)
    });
    let encode = per_event(|n| serde_json::to_string(&traps[(n % EVENTS) as usize]));

    println!("heap allocations per event (dhat, mean of {EVENTS}):");
    println!("| stage | allocations |");
    println!("|---|---:|");
    println!("| SNMP decode (library BER + varbind mapping) | {decode:.1} |");
    println!("| trap normalize (model, fingerprint) | {normalize_trap:.1} |");
    println!("| … of which the raw notification as JSON text | {raw_text:.1} |");
    println!("| hook normalize (JSON parse, model) | {normalize_hook:.1} |");
    println!("| dedup verdict + pipeline decision | {decide:.1} |");
    println!("| row encode (JSON) | {encode:.1} |");
    println!(
        "| **trap, total before the store** | **{:.1}** |",
        decode + normalize_trap + decide + encode
    );
    println!(
        "| **hook, total before the store** | **{:.1}** |",
        normalize_hook + decide + encode
    );
}
