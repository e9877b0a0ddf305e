//! What the hold decision costs per event as the estate grows: VMs in the
//! maintenance view (traps name a VM, they carry no moref) and alerts firing
//! (inhibition asks what fires on the VM's host). `cargo bench --bench
//! estate_scale`; `scripts/bench-scale.sh` runs it too.
//!
//! Times `silence::decide`, the pure decision the pipeline makes for every
//! event routed to monitoring, for a VM alarm whose host has no firing
//! source alert (the case that used to search everything and find nothing).
//! Before the name index and the per-host firing set, the same decision
//! took up to 0.45 ms with 40,000 VMs and 1.65 ms with 100,000 alerts
//! firing (`docs/performance.md`, issue 19 fifth round); a cost that stays
//! flat down the table is what this prints to show.

use std::time::Instant;

use time::OffsetDateTime;
use vcgate::config::InhibitRule;
use vcgate::model::{Alarm, AlarmStatus, EntityKind, Event, EventType, Source, StatusText};
use vcgate::silence::{FiringAlerts, MaintenanceView, decide};

const HOSTS: usize = 500;
const DECISIONS: usize = 200_000;

fn host_name(h: usize) -> String {
    format!("esx{h:04}.example.com")
}

fn vm_name(v: usize) -> String {
    format!("app-server-{v:05}")
}

/// `vms` VMs spread over `HOSTS` hosts, none in maintenance.
fn view(vms: usize) -> MaintenanceView {
    let mut view = MaintenanceView::default();
    for h in 0..HOSTS {
        view.set_host("vc1", &format!("host-{h}"), &host_name(h), false);
    }
    for v in 0..vms {
        view.set_vm(
            "vc1",
            &format!("vm-{v}"),
            &vm_name(v),
            &format!("host-{}", v % HOSTS),
        );
    }
    view
}

/// A storm: `n` VM alerts firing, plus the source alert on every host but
/// host 0, so the VMs of host 0 are the ones measured (nothing inhibits
/// them, every firing alert would have been looked at).
fn firing(n: usize) -> FiringAlerts {
    let mut firing = FiringAlerts::default();
    for h in 1..HOSTS {
        firing.observe(
            "vc1",
            &host_name(h),
            "alarm.HostConnectionStateAlarm",
            AlarmStatus::Red,
        );
    }
    for i in 0..n.saturating_sub(HOSTS - 1) {
        firing.observe(
            "vc1",
            &vm_name(i),
            "alarm.VmCPUUsageAlarm",
            AlarmStatus::Red,
        );
    }
    firing
}

fn vm_alarm(name: String) -> Event {
    let mut event = Event::new(Source::Snmp, "vc1", EventType::alarm_status_changed());
    event.entity.kind = Some(EntityKind::VirtualMachine);
    event.entity.name = Some(name);
    event.alarm = Some(Alarm {
        name: Some("alarm.VmMemoryUsageAlarm".into()),
        new_status: Some(StatusText::parse("red")),
        ..Alarm::default()
    });
    event
}

fn main() {
    let rule = InhibitRule {
        name: "host-down".into(),
        source_alarm: "alarm.HostConnectionStateAlarm".into(),
        source_status: "red".into(),
    };
    let now = OffsetDateTime::now_utc();
    println!("hold decision per VM alarm (silence::decide, {DECISIONS} decisions per row):");
    println!("| VMs in the maintenance view | alerts firing | µs per decision | held |");
    println!("|---:|---:|---:|---:|");
    for vms in [1_000, 10_000, 40_000] {
        let view = view(vms);
        // The lookups are real: a VM on host 1, whose source alert fires, is held.
        let on_host_1 = vm_alarm(vm_name(1));
        assert!(
            decide(
                &on_host_1,
                now,
                Some(&view),
                &[],
                std::slice::from_ref(&rule),
                &firing(0)
            )
            .is_some(),
            "inhibition must hold a VM whose host's source alert fires"
        );
        // VMs of host 0: the ones no inhibit rule holds.
        let events: Vec<Event> = (0..vms)
            .step_by(HOSTS)
            .map(|v| vm_alarm(vm_name(v)))
            .collect();
        for alerts in [0, 10_000, 100_000] {
            let firing = firing(alerts);
            let started = Instant::now();
            let mut held = 0usize;
            for i in 0..DECISIONS {
                let event = &events[i % events.len()];
                let hold = decide(
                    event,
                    now,
                    Some(&view),
                    &[],
                    std::slice::from_ref(&rule),
                    &firing,
                );
                held += usize::from(std::hint::black_box(hold).is_some());
            }
            let micros = started.elapsed().as_secs_f64() * 1e6 / DECISIONS as f64;
            println!("| {vms} | {} | {micros:.2} | {held} |", firing.len());
        }
    }
}
