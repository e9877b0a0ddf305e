//! `vcgate get guard`: one table per part of `GET /api/v1/guard`.

use super::output::{Table, name_of, opt_time, or_dash, time};
use crate::api::wire::{GuardHost, GuardView};

pub fn render(view: &GuardView, wide: bool) -> String {
    let s = &view.settings;
    let mut out = format!(
        "guard enabled={} interval={:?}s disable_on_enter={} reenable={} dry_run={} exclude={}\n\n",
        s.enabled,
        s.interval_seconds,
        s.disable_on_enter,
        name_of(&s.reenable),
        s.dry_run,
        serde_json::to_string(&s.exclude).unwrap_or_default(),
    );
    let rows: Vec<Vec<String>> = view
        .vcenters
        .iter()
        .map(|v| {
            let mut row = vec![
                v.name.clone(),
                name_of(&v.status),
                opt_time(v.last_reconcile),
                v.hosts.to_string(),
                or_dash(v.error.as_ref()),
            ];
            if wide {
                row.extend([
                    opt_time(v.last_attempt),
                    opt_time(v.next_attempt),
                    v.consecutive_failures.to_string(),
                    v.reconciles.to_string(),
                ]);
            }
            row
        })
        .collect();
    let mut headers = vec!["VCENTER", "STATUS", "LAST RECONCILE", "HOSTS", "ERROR"];
    if wide {
        headers.extend(["LAST ATTEMPT", "NEXT ATTEMPT", "FAILURES", "RECONCILES"]);
    }
    out.push_str(&Table::new(&headers).render(&rows));
    let host = |h: &GuardHost, last: String| {
        vec![
            h.vcenter.clone(),
            h.name.clone(),
            h.moref.clone(),
            or_dash(h.alarm_actions_enabled),
            last,
        ]
    };
    let hosts = ["VCENTER", "HOST", "MOREF", "ACTIONS ENABLED"];
    out.push_str("\nIN MAINTENANCE\n");
    let rows: Vec<Vec<String>> = view
        .in_maintenance
        .iter()
        .map(|h| host(h, h.guarded.to_string()))
        .collect();
    out.push_str(&Table::new(&[&hosts[..], &["GUARDED"]].concat()).render(&rows));
    out.push_str("\nGUARDED (re-enabled once out of maintenance)\n");
    let rows: Vec<Vec<String>> = view
        .guarded
        .iter()
        .map(|g| host(&g.host, or_dash(g.reason.as_ref())))
        .collect();
    out.push_str(&Table::new(&[&hosts[..], &["REASON"]].concat()).render(&rows));
    let rows: Vec<Vec<String>> = view
        .actions
        .iter()
        .map(|a| {
            let mut row = vec![
                time(a.time),
                a.vcenter.clone(),
                a.host.clone(),
                a.action.as_str().to_owned(),
                a.outcome.as_str().to_owned(),
                a.error.clone().unwrap_or_else(|| a.reason.clone()),
            ];
            if wide {
                row.extend([a.moref.clone(), or_dash(a.event_id)]);
            }
            row
        })
        .collect();
    let mut headers = vec!["TIME", "VCENTER", "HOST", "ACTION", "OUTCOME", "REASON"];
    if wide {
        headers.extend(["MOREF", "EVENT"]);
    }
    out.push_str("\nRECENT ACTIONS\n");
    out.push_str(&Table::new(&headers).render(&rows));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> GuardView {
        serde_json::from_value(serde_json::json!({
            "settings": {"enabled": true, "interval_seconds": 60.0, "disable_on_enter": true,
                         "reenable": "guarded", "dry_run": false, "exclude": [], "vcenters": ["vc1"]},
            "vcenters": [{"name": "vc1", "status": "stale", "last_reconcile": null, "last_attempt": null,
                          "next_attempt": null, "hosts": 0, "error": "cannot reach vCenter",
                          "consecutive_failures": 2, "reconciles": 0}],
            "in_maintenance": [{"vcenter": "vc1", "name": "esx01", "moref": "host-1",
                                "in_maintenance": true, "alarm_actions_enabled": false, "guarded": true}],
            "guarded": [{"vcenter": "vc1", "name": "esx01", "moref": "host-1", "in_maintenance": true,
                         "alarm_actions_enabled": false, "guarded": true, "reason": "disabled by the guard"}],
            "actions": [{"time": "2026-11-25T10:00:00Z", "vcenter": "vc1", "moref": "host-1", "host": "esx01",
                         "action": "disable", "outcome": "failed", "error": "permission denied",
                         "reason": "r", "event_id": null}],
        }))
        .unwrap()
    }

    #[test]
    fn guard_view_lists_every_part() {
        let out = render(&view(), false);
        assert!(out.starts_with("guard enabled=true interval=60.0s disable_on_enter=true reenable=guarded dry_run=false exclude=[]\n"), "{out}");
        assert!(out.contains("vc1      stale"), "{out}");
        assert!(out.contains("disabled by the guard"), "{out}");
        assert!(out.contains("failed   permission denied"), "{out}");
        assert_eq!(out.matches("esx01").count(), 3, "{out}");
        let wide = render(&view(), true);
        let actions = wide.lines().rev().nth(1).unwrap();
        assert!(
            actions.ends_with("REASON             MOREF   EVENT"),
            "{wide}"
        );
        assert!(
            wide.contains("FAILURES") && wide.ends_with("host-1  -\n"),
            "{wide}"
        );
    }
}
