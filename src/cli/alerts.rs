//! `vcgate get alerts`: the active-alert table, one row per monitoring
//! target and alert (`GET /api/v1/alerts`).

use super::output::{Table, name_of, opt_time, or_dash, pairs, time};
use crate::api::wire::AlertList;

pub fn render(list: &AlertList, wide: bool) -> String {
    let rows: Vec<Vec<String>> = list
        .alerts
        .iter()
        .map(|a| {
            let r = &a.row;
            let mut row = vec![
                r.target.clone(),
                name_of(&r.state),
                r.identity.alarm_name.clone(),
                r.identity.entity_name.clone(),
                r.severity.clone(),
                r.status.clone(),
                time(r.starts_at),
                or_dash(r.held_by.as_ref()),
            ];
            if wide {
                row.extend([
                    r.identity.vcenter.clone(),
                    or_dash(r.identity.entity_type.as_ref()),
                    opt_time(r.resolved_at),
                    r.event_id.to_string(),
                    a.fingerprint.clone(),
                    pairs(&r.labels, ","),
                ]);
            }
            row
        })
        .collect();
    let mut headers = vec![
        "TARGET", "STATE", "ALERT", "ENTITY", "SEVERITY", "STATUS", "SINCE", "HELD BY",
    ];
    if wide {
        headers.extend([
            "VCENTER",
            "ENTITY TYPE",
            "RESOLVED",
            "EVENT",
            "FINGERPRINT",
            "LABELS",
        ]);
    }
    Table::new(&headers).render(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_table() {
        let list: AlertList = serde_json::from_value(serde_json::json!({"alerts": [{
            "target": "am", "key": "k1", "state": "firing", "severity": "warning", "status": "Yellow",
            "summary": "Datastore usage", "starts_at": "2026-11-25T10:00:00Z", "resolved_at": null,
            "event_id": "01a21295-be64-75ab-a89a-97d7d5862a53", "version": 1, "fingerprint": "2b0ee1f7c93ab427",
            "identity": {"vcenter": "vc1", "entity_name": "ds1", "alarm_name": "Datastore usage"},
            "labels": {"alertname": "Datastore usage", "entity": "ds1"},
        }]}))
        .unwrap();
        let normal = render(&list, false);
        assert!(normal.starts_with("TARGET  STATE   ALERT"), "{normal}");
        assert!(
            normal.contains("am      firing  Datastore usage  ds1"),
            "{normal}"
        );
        assert!(!normal.contains("2b0ee1f7c93ab427"));
        let wide = render(&list, true);
        assert!(
            wide.contains("2b0ee1f7c93ab427") && wide.contains("alertname=Datastore usage"),
            "{wide}"
        );
    }
}
