//! Validation of the event-stream keys of `[[vcenter]]` (`events`,
//! `events_poll`, `events_lookback`, `events_include`/`events_exclude`).
//!
//! Lives in config (not in `ingest::vcenter_events`, which runs the stream)
//! so that config depends on nothing above it.

use std::time::Duration;

use super::{ConfigError, VcenterConfig};

/// Checks the event-stream keys of `[[vcenter]]` number `index`.
pub fn validate(index: usize, vc: &VcenterConfig) -> Result<(), ConfigError> {
    let invalid = |key: &str, message: String| invalid(index, key, message);
    if vc.events && vc.url.is_none() {
        return Err(invalid(
            "events",
            "the event stream needs the vSphere API: set url, username and a password".into(),
        ));
    }
    if vc.events_poll < Duration::from_millis(100) || vc.events_poll > Duration::from_secs(3600) {
        return Err(invalid(
            "events_poll",
            "must be between 100ms and 1h".into(),
        ));
    }
    if vc.events_lookback < Duration::from_secs(1) {
        return Err(invalid(
            "events_lookback",
            "must be at least 1s (the stream never starts from \"now\" when it has a checkpoint)"
                .into(),
        ));
    }
    validate_class_lists(index, vc)
}

fn invalid(index: usize, key: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        key: format!("vcenter[{index}].{key}"),
        message,
    }
}

/// `events_include` / `events_exclude`: class names, and none in both.
fn validate_class_lists(index: usize, vc: &VcenterConfig) -> Result<(), ConfigError> {
    for (key, list) in [
        ("events_include", &vc.events_include),
        ("events_exclude", &vc.events_exclude),
    ] {
        if let Some(bad) = list.iter().find(|c| !is_event_class(c)) {
            return Err(invalid(
                index,
                key,
                format!(
                    "{bad:?} is not an event class name (e.g. VmCreatedEvent, com.vmware.vc.HA.ClusterFailoverEvent)"
                ),
            ));
        }
    }
    if let Some(both) = vc
        .events_include
        .iter()
        .find(|c| vc.events_exclude.contains(c))
    {
        return Err(invalid(
            index,
            "events_exclude",
            format!("{both:?} is also in events_include"),
        ));
    }
    Ok(())
}

fn is_event_class(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 200
        && c.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "._-".contains(ch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vc(toml_text: &str) -> VcenterConfig {
        toml::from_str(&format!(
            "name = \"vc1\"\nurl = \"http://127.0.0.1:1/sdk\"\npassword = \"p\"\n{toml_text}"
        ))
        .unwrap()
    }

    #[test]
    fn defaults_and_validation() {
        let ok = vc("events = true");
        assert_eq!(ok.events_poll, Duration::from_secs(5));
        assert_eq!(ok.events_lookback, Duration::from_secs(3600));
        assert!(ok.events_include.is_empty() && ok.events_exclude.is_empty());
        validate(0, &ok).unwrap();

        let err = |t: &str| validate(2, &vc(t)).unwrap_err().to_string();
        assert!(err("events_poll = \"10ms\"").contains("vcenter[2].events_poll"));
        assert!(err("events_lookback = \"0s\"").contains("events_lookback"));
        assert!(err("events_include = [\"Vm Created\"]").contains("events_include"));
        assert!(
            err("events_include = [\"VmCreatedEvent\"]\nevents_exclude = [\"VmCreatedEvent\"]")
                .contains("also in events_include")
        );
        let no_url: VcenterConfig = toml::from_str("name = \"vc1\"\nevents = true").unwrap();
        assert!(
            validate(0, &no_url)
                .unwrap_err()
                .to_string()
                .contains("url")
        );
        validate(
            0,
            &vc("events_exclude = [\"UserLoginSessionEvent\", \"com.vmware.vc.HA.ClusterFailoverEvent\"]"),
        )
        .unwrap();
    }
}
