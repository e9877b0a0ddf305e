//! Enrichment: finds the vCenter event behind an alarm notification and
//! fills in who did it, the event class (→ Dispatch type such as
//! `vm.created`), the entity's moref, datacenter, template or source VM.
//!
//! Pure core (in `normalize::trigger`, re-exported here): `pick_triggering` (which vCenter event is the alarm's trigger)
//! and `apply` (copy its facts onto the Event). The edge, `Enricher`, talks to
//! vCenter with a bounded timeout, caches name → moref lookups, and after a
//! failure skips that vCenter for `retry_after` so a slow or dead vCenter
//! never stalls the pipeline. Every enriched event says how it went
//! (`enrichment.status` = `enriched` | `not_found` | `failed`, and a reason).
//! Runs in the pipeline, after acceptance: acceptance never waits on vCenter.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::Value;
use time::OffsetDateTime;

use crate::config::EnrichConfig;
use crate::model::{Enrichment, EntityKind, Event, Moref};
use crate::vcenters::Vcenters;
use crate::vsphere::{self, Client, EventFilterSpec, VcEvent, VsphereError};

// The pure core lives in `normalize` (the event stream uses it too); kept at its old paths.
pub use crate::normalize::trigger::{apply, pick_triggering};

/// (vcenter, VM name) → (looked up at, moref).
type VmCache = HashMap<(String, String), (Instant, Option<String>)>;

/// The edge that talks to vCenter.
pub struct Enricher {
    vcenters: Vcenters,
    config: EnrichConfig,
    /// (vcenter, VM name) → moref, with when it was looked up.
    vm_cache: Mutex<VmCache>,
    /// vcenter → until when lookups are skipped, and why.
    cooling: Mutex<HashMap<String, (Instant, String)>>,
}

impl Enricher {
    pub fn new(vcenters: Vcenters, config: EnrichConfig) -> Option<Self> {
        (config.enabled && !vcenters.is_empty()).then(|| Self {
            vcenters,
            config,
            vm_cache: Mutex::new(HashMap::new()),
            cooling: Mutex::new(HashMap::new()),
        })
    }

    /// Whether this event is one we look up: an alarm from the hook or SNMP
    /// (not the event stream) whose vCenter has an API client.
    pub fn wants(&self, event: &Event) -> bool {
        // Stream events are vCenter events already: nothing to look up.
        event.source != crate::model::Source::VcenterEvents
            && event.alarm.is_some()
            && self.vcenters.get(&event.vcenter).is_some()
    }

    /// Enriches `event` in place; never fails, records the outcome on the event.
    pub async fn enrich(&self, event: &mut Event) {
        if !self.wants(event) {
            return;
        }
        let vcenter = event.vcenter.clone();
        if let Some(reason) = self.cooling_reason(&vcenter) {
            event.enrichment = Some(Enrichment {
                status: "failed".into(),
                reason: Some(reason),
            });
            return;
        }
        let client = self
            .vcenters
            .get(&vcenter)
            .expect("wants() checked")
            .clone();
        let outcome = tokio::time::timeout(self.config.timeout, self.lookup(&client, event)).await;
        event.enrichment = Some(match outcome {
            Ok(Ok(Some(trigger))) => {
                apply(event, &trigger);
                Enrichment {
                    status: "enriched".into(),
                    reason: None,
                }
            }
            Ok(Ok(None)) => Enrichment {
                status: "not_found".into(),
                reason: Some(
                    "no vCenter event matches the alarm's event key or description".into(),
                ),
            },
            Ok(Err(e)) => {
                let reason = format!("vCenter {vcenter}: {e}");
                if e.is_unavailable() {
                    self.cool_down(&vcenter, &reason);
                }
                tracing::warn!(%vcenter, event = %event.id, error = %e, "enrichment failed");
                Enrichment {
                    status: "failed".into(),
                    reason: Some(reason),
                }
            }
            Err(_) => {
                let reason = format!(
                    "vCenter {vcenter} did not answer within {}",
                    humantime::format_duration(self.config.timeout)
                );
                self.cool_down(&vcenter, &reason);
                Enrichment {
                    status: "failed".into(),
                    reason: Some(reason),
                }
            }
        });
    }

    fn cooling_reason(&self, vcenter: &str) -> Option<String> {
        let mut cooling = self.cooling.lock().unwrap_or_else(|p| p.into_inner());
        match cooling.get(vcenter) {
            Some((until, reason)) if Instant::now() < *until => {
                Some(format!("{reason} (not retried until the cool-down ends)"))
            }
            Some(_) => {
                cooling.remove(vcenter);
                None
            }
            None => None,
        }
    }

    fn cool_down(&self, vcenter: &str, reason: &str) {
        self.cooling
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                vcenter.to_owned(),
                (Instant::now() + self.config.retry_after, reason.to_owned()),
            );
    }

    async fn lookup(
        &self,
        client: &Client,
        event: &mut Event,
    ) -> Result<Option<VcEvent>, VsphereError> {
        let entity = self.resolve_entity(client, event).await?;
        let at = event
            .time
            .unwrap_or(event.received_at)
            .min(OffsetDateTime::now_utc());
        let window =
            time::Duration::try_from(self.config.window).unwrap_or(time::Duration::minutes(10));
        let candidates = client
            .query_events(&EventFilterSpec {
                entity,
                begin_time: Some(at - window),
                end_time: Some(at + time::Duration::minutes(1)),
                max_count: Some(1000),
                ..EventFilterSpec::default()
            })
            .await?;
        Ok(pick_triggering(event, &candidates).cloned())
    }

    /// The entity as a vSphere reference: from the moref when the source gave
    /// one (hook), else by name (traps carry names only) — the found moref is
    /// kept on the event either way.
    async fn resolve_entity(
        &self,
        client: &Client,
        event: &mut Event,
    ) -> Result<Option<vsphere::ManagedObjectRef>, VsphereError> {
        if let Some(moref) = &event.entity.moref {
            let kind = event
                .entity
                .kind
                .or_else(|| moref.entity_kind())
                .unwrap_or(EntityKind::Other);
            return Ok(Some(vsphere::ManagedObjectRef::new(
                kind.vsphere_type(),
                moref.as_str(),
            )));
        }
        let Some(name) = event.entity.name.clone() else {
            return Ok(None);
        };
        let found = match event.entity.kind {
            Some(EntityKind::VirtualMachine) => {
                self.vm_by_name(client, &event.vcenter, &name).await?
            }
            Some(EntityKind::HostSystem) => client
                .hosts()
                .await?
                .into_iter()
                .find(|h| h.name == name)
                .map(|h| h.moref.value),
            _ => None,
        };
        let Some(moref) = found else { return Ok(None) };
        event.entity.moref = Moref::parse(&moref);
        let kind = event.entity.kind.unwrap_or(EntityKind::Other);
        if kind == EntityKind::VirtualMachine {
            event
                .metadata
                .insert("vm_id".into(), Value::String(moref.clone()));
        }
        Ok(Some(vsphere::ManagedObjectRef::new(
            kind.vsphere_type(),
            moref,
        )))
    }

    async fn vm_by_name(
        &self,
        client: &Client,
        vcenter: &str,
        name: &str,
    ) -> Result<Option<String>, VsphereError> {
        let key = (vcenter.to_owned(), name.to_owned());
        let ttl = self.config.cache_ttl;
        if let Some((at, moref)) = self
            .vm_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            && at.elapsed() < ttl
        {
            return Ok(moref.clone());
        }
        let moref = client.find_vm(name).await?.map(|m| m.value);
        let mut cache = self.vm_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        cache.insert(key, (Instant::now(), moref.clone()));
        Ok(moref)
    }
}

/// Events of one pipeline batch looked up at the same time (each bounded by
/// `[enrich] timeout`).
pub const CONCURRENT_LOOKUPS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ALARM_STATUS_CHANGED, Alarm, EventType, Source, StatusText};
    use crate::vsphere::NamedRef;

    fn vc_event(key: i64, class: &str, message: &str) -> VcEvent {
        VcEvent {
            key,
            class: class.into(),
            event_type_id: None,
            created_time: OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
            user_name: Some("VSPHERE.LOCAL\\alice".into()),
            message: Some(message.into()),
            chain_id: None,
            datacenter: Some(NamedRef {
                moref: "datacenter-2".into(),
                name: "DC0".into(),
            }),
            compute_resource: None,
            host: Some(NamedRef {
                moref: "host-9".into(),
                name: "esx01".into(),
            }),
            vm: Some(NamedRef {
                moref: "vm-42".into(),
                name: "web01".into(),
            }),
            datastore: None,
            src_template: Some(NamedRef {
                moref: "vm-7".into(),
                name: "tmpl-linux".into(),
            }),
            source_vm: None,
            alarm: None,
            entity: None,
            from_status: None,
            to_status: None,
            tree: Default::default(),
        }
    }

    fn alarm(event_key: Option<i64>, message: Option<&str>) -> Event {
        let mut e = Event::new(Source::AlarmHook, "vc1", EventType::alarm_status_changed());
        e.alarm = Some(Alarm {
            name: Some("VM created".into()),
            new_status: Some(StatusText::parse("Red")),
            ..Alarm::default()
        });
        e.entity.kind = Some(EntityKind::VirtualMachine);
        e.entity.name = Some("web01".into());
        e.event_key = event_key;
        e.message = message.map(str::to_owned);
        e
    }

    #[test]
    fn picks_by_key_then_by_message_never_by_guess() {
        let candidates = vec![
            vc_event(
                10,
                "AlarmStatusChangedEvent",
                "Created virtual machine web01",
            ),
            vc_event(11, "VmCreatedEvent", "Created virtual machine web01"),
            vc_event(12, "VmPoweredOnEvent", "web01 powered on"),
        ];
        assert_eq!(
            pick_triggering(&alarm(Some(12), None), &candidates)
                .unwrap()
                .key,
            12
        );
        assert!(
            pick_triggering(
                &alarm(Some(99), Some("Created virtual machine web01")),
                &candidates
            )
            .is_none()
        );
        assert_eq!(
            pick_triggering(
                &alarm(None, Some(" Created virtual machine web01 ")),
                &candidates
            )
            .unwrap()
            .key,
            11
        );
        assert!(pick_triggering(&alarm(None, Some("Metric CPU = 97%")), &candidates).is_none());
        assert!(pick_triggering(&alarm(None, None), &candidates).is_none());
    }

    #[test]
    fn apply_fills_user_type_entity_and_metadata() {
        let mut e = alarm(Some(11), None);
        apply(
            &mut e,
            &vc_event(11, "VmDeployedEvent", "Deployed web01 from tmpl-linux"),
        );
        assert_eq!(e.event_type.as_str(), "vm.deployed");
        assert_eq!(e.user.as_deref(), Some("VSPHERE.LOCAL\\alice"));
        assert_eq!(e.entity.moref.as_ref().unwrap().as_str(), "vm-42");
        assert_eq!(e.metadata["vm_id"], "vm-42");
        assert_eq!(e.metadata["src_template"], "tmpl-linux");
        assert_eq!(e.metadata["datacenter"], "DC0");
        assert_eq!(e.metadata["vcenter_event_key"], 11);
        assert_eq!(
            e.time,
            Some(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap())
        );
        // The alarm identity (for dedup) does not change with enrichment.
        assert_eq!(e.dedup_identity(), alarm(None, None).dedup_identity());
    }

    #[test]
    fn alarm_classes_never_become_the_type() {
        let mut e = alarm(Some(10), None);
        apply(&mut e, &vc_event(10, "AlarmStatusChangedEvent", "x"));
        assert_eq!(e.event_type.as_str(), ALARM_STATUS_CHANGED);
    }
}
