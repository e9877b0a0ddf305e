//! Which hosts are in maintenance, and what runs on or is stored on them.
//!
//! Known from maintenance events of any source (applied at once) and
//! confirmed by polling vCenter (`runtime.inMaintenanceMode`, each VM's
//! `runtime.host`, each datastore's host mounts) every `[silence] poll` and
//! right after a maintenance event. A poll replaces the vCenter's picture;
//! event-driven changes newer than the poll's start survive it, so a poll that
//! raced an "entered maintenance" event does not un-silence the host.
//!
//! With several nodes on one store, one node per vCenter polls (the
//! `maintenance:<vc>` singleton) and stores its picture; the other nodes read
//! that picture from the store instead of asking vCenter themselves, so each
//! node decides and releases against the same picture at no extra vCenter load.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::model::{EntityKind, Event};
use crate::store::Role;
use crate::vcenters::Vcenters;
use crate::vsphere::{Client, VsphereError};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Host {
    name: String,
    in_maintenance: bool,
}

/// A point-in-time picture per vCenter.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceView {
    /// vcenter → host moref → host.
    hosts: HashMap<String, HashMap<String, Host>>,
    /// vcenter → VM moref → (name, host moref).
    vms: HashMap<String, HashMap<String, (String, String)>>,
    /// vcenter → datastore moref → (name, mounting host morefs).
    datastores: HashMap<String, HashMap<String, (String, Vec<String>)>>,
    /// (vcenter, lowercase host name) → in maintenance, from events, with when.
    overrides: HashMap<(String, String), (bool, Instant)>,
    /// vcenter → the three maps above by name: traps name their entity and
    /// carry no moref, and a search of every VM per event cost up to 0.45 ms
    /// per VM alarm with 40,000 VMs (all of it for a VM not in the picture),
    /// on the pipeline's path; the index takes 0.1 µs.
    names: HashMap<String, NameIndex>,
}

/// One vCenter's entities by name (any one of them when names repeat, as
/// VM names may in different folders).
#[derive(Debug, Clone, Default)]
struct NameIndex {
    /// Lowercase host name → host moref.
    hosts: HashMap<String, String>,
    /// VM name → VM moref.
    vms: HashMap<String, String>,
    /// Datastore name → datastore moref.
    datastores: HashMap<String, String>,
}

/// Maintenance state from an event type, if it is a maintenance event.
pub fn maintenance_change(event: &Event) -> Option<bool> {
    match event.event_type.as_str() {
        "entered.maintenance.mode" | "entering.maintenance.mode" => Some(true),
        "exit.maintenance.mode" | "exited.maintenance.mode" => Some(false),
        _ => None,
    }
}

impl MaintenanceView {
    pub fn set_host(&mut self, vc: &str, moref: &str, name: &str, in_maintenance: bool) {
        let old = self.hosts.entry(vc.into()).or_default().insert(
            moref.into(),
            Host {
                name: name.into(),
                in_maintenance,
            },
        );
        let index = &mut self.names.entry(vc.into()).or_default().hosts;
        if !index_name(
            index,
            old.map(|h| h.name.to_lowercase()),
            name.to_lowercase(),
            moref,
        ) {
            self.reindex(vc);
        }
    }

    pub fn set_vm(&mut self, vc: &str, moref: &str, name: &str, host: &str) {
        let old = self
            .vms
            .entry(vc.into())
            .or_default()
            .insert(moref.into(), (name.into(), host.into()));
        let index = &mut self.names.entry(vc.into()).or_default().vms;
        if !index_name(index, old.map(|(n, _)| n), name.to_owned(), moref) {
            self.reindex(vc);
        }
    }

    pub fn set_datastore(&mut self, vc: &str, moref: &str, name: &str, hosts: Vec<String>) {
        let old = self
            .datastores
            .entry(vc.into())
            .or_default()
            .insert(moref.into(), (name.into(), hosts));
        let index = &mut self.names.entry(vc.into()).or_default().datastores;
        if !index_name(index, old.map(|(n, _)| n), name.to_owned(), moref) {
            self.reindex(vc);
        }
    }

    /// Rebuilds `vc`'s name index from its maps (after they were replaced).
    fn reindex(&mut self, vc: &str) {
        let mut index = NameIndex::default();
        for (moref, host) in self.hosts.get(vc).into_iter().flatten() {
            index.hosts.insert(host.name.to_lowercase(), moref.clone());
        }
        for (moref, (name, _)) in self.vms.get(vc).into_iter().flatten() {
            index.vms.insert(name.clone(), moref.clone());
        }
        for (moref, (name, _)) in self.datastores.get(vc).into_iter().flatten() {
            index.datastores.insert(name.clone(), moref.clone());
        }
        self.names.insert(vc.to_owned(), index);
    }

    /// The moref named `name` in `vc`, by one of its name indexes.
    fn moref_named<'a>(
        &'a self,
        vc: &str,
        name: &str,
        pick: impl FnOnce(&'a NameIndex) -> &'a HashMap<String, String>,
    ) -> Option<&'a str> {
        pick(self.names.get(vc)?).get(name).map(String::as_str)
    }

    /// Hosts currently in maintenance, as (vcenter, host name).
    pub fn hosts_in_maintenance(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (vc, hosts) in &self.hosts {
            for host in hosts.values() {
                if self.host_state(vc, host) {
                    out.push((vc.clone(), host.name.clone()));
                }
            }
        }
        for ((vc, name), (in_maintenance, _)) in &self.overrides {
            let known = self.moref_named(vc, name, |n| &n.hosts).is_some();
            if *in_maintenance && !known {
                out.push((vc.clone(), name.clone()));
            }
        }
        out.sort();
        out
    }

    fn host_state(&self, vc: &str, host: &Host) -> bool {
        match self
            .overrides
            .get(&(vc.to_owned(), host.name.to_lowercase()))
        {
            Some((state, _)) => *state,
            None => host.in_maintenance,
        }
    }

    /// (name, in maintenance) of a host by moref.
    fn host_by_moref(&self, vc: &str, moref: &str) -> Option<(String, bool)> {
        let host = self.hosts.get(vc)?.get(moref)?;
        Some((host.name.clone(), self.host_state(vc, host)))
    }

    fn host_by_name(&self, vc: &str, name: &str) -> Option<(String, bool)> {
        if let Some(host) = self
            .moref_named(vc, &name.to_lowercase(), |n| &n.hosts)
            .and_then(|moref| self.hosts.get(vc)?.get(moref))
        {
            return Some((host.name.clone(), self.host_state(vc, host)));
        }
        self.overrides
            .get(&(vc.to_owned(), name.to_lowercase()))
            .map(|(state, _)| (name.to_owned(), *state))
    }

    /// The VM's host moref, by the event's moref or name.
    fn vm_host(&self, event: &Event) -> Option<String> {
        let vms = self.vms.get(&event.vcenter)?;
        let by_moref = event
            .entity
            .moref
            .as_ref()
            .and_then(|m| vms.get(m.as_str()));
        let by_name = || {
            let name = event.entity.name.as_deref()?;
            vms.get(self.moref_named(&event.vcenter, name, |n| &n.vms)?)
        };
        by_moref.or_else(by_name).map(|(_, host)| host.clone())
    }

    /// Name of the host the event's VM runs on.
    pub fn host_of_vm(&self, event: &Event) -> Option<String> {
        let host = self.vm_host(event)?;
        self.host_by_moref(&event.vcenter, &host)
            .map(|(name, _)| name)
    }

    /// The host in maintenance that makes this event's entity "in maintenance".
    pub fn host_in_maintenance_for(&self, event: &Event) -> Option<String> {
        let vc = event.vcenter.as_str();
        match event.entity.kind {
            Some(EntityKind::HostSystem) => {
                let found = event
                    .entity
                    .moref
                    .as_ref()
                    .and_then(|m| self.host_by_moref(vc, m.as_str()))
                    .or_else(|| {
                        event
                            .entity
                            .name
                            .as_deref()
                            .and_then(|n| self.host_by_name(vc, n))
                    });
                found
                    .filter(|(_, in_maintenance)| *in_maintenance)
                    .map(|(name, _)| name)
            }
            Some(EntityKind::VirtualMachine) => {
                let host = self.vm_host(event)?;
                self.host_by_moref(vc, &host)
                    .filter(|(_, m)| *m)
                    .map(|(name, _)| name)
            }
            Some(EntityKind::Datastore) => {
                let datastores = self.datastores.get(vc)?;
                let by_moref = event
                    .entity
                    .moref
                    .as_ref()
                    .and_then(|m| datastores.get(m.as_str()));
                let (_, hosts) = by_moref.or_else(|| {
                    let name = event.entity.name.as_deref()?;
                    datastores.get(self.moref_named(vc, name, |n| &n.datastores)?)
                })?;
                // Only when every host that mounts it is in maintenance.
                let states: Vec<(String, bool)> = hosts
                    .iter()
                    .filter_map(|h| self.host_by_moref(vc, h))
                    .collect();
                (!states.is_empty() && states.iter().all(|(_, m)| *m)).then(|| states[0].0.clone())
            }
            _ => None,
        }
    }
}

/// Points `name` at `moref` in a name index; false, with nothing done,
/// when the entity had another name before (renamed in place: rare, a poll
/// builds a fresh picture), for the caller to rebuild the index, since
/// another entity may still carry the old name.
fn index_name(
    index: &mut HashMap<String, String>,
    old_name: Option<String>,
    name: String,
    moref: &str,
) -> bool {
    if old_name.is_some_and(|old| old != name) {
        return false;
    }
    index.insert(name, moref.to_owned());
    true
}

/// The view shared between the poller, the pipeline and the API.
#[derive(Clone, Default)]
pub struct SharedMaintenance {
    view: Arc<RwLock<Arc<MaintenanceView>>>,
    /// Poll now (a maintenance event arrived).
    pub poke: Arc<Notify>,
}

impl SharedMaintenance {
    pub fn snapshot(&self) -> Arc<MaintenanceView> {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update(&self, f: impl FnOnce(&mut MaintenanceView)) {
        let mut guard = self.view.write().unwrap_or_else(|p| p.into_inner());
        let mut next = (**guard).clone();
        f(&mut next);
        *guard = Arc::new(next);
    }

    /// Applies a maintenance event at once and asks for a confirming poll.
    pub fn observe_event(&self, event: &Event) {
        let Some(state) = maintenance_change(event) else {
            return;
        };
        let Some(host) = event.entity.name.clone().or_else(|| {
            event
                .metadata
                .get("host")
                .and_then(|h| h.as_str())
                .map(str::to_owned)
        }) else {
            return;
        };
        let vc = event.vcenter.clone();
        self.update(|view| {
            view.overrides
                .insert((vc, host.to_lowercase()), (state, Instant::now()));
        });
        self.poke.notify_one();
    }

    /// Replaces one vCenter's picture with a poll that started at `started`.
    fn replace(&self, vc: &str, polled: MaintenanceView, started: Instant) {
        self.update(|view| {
            view.hosts.insert(
                vc.to_owned(),
                polled.hosts.get(vc).cloned().unwrap_or_default(),
            );
            view.vms.insert(
                vc.to_owned(),
                polled.vms.get(vc).cloned().unwrap_or_default(),
            );
            view.datastores.insert(
                vc.to_owned(),
                polled.datastores.get(vc).cloned().unwrap_or_default(),
            );
            view.overrides
                .retain(|(v, _), (_, at)| v != vc || *at > started);
            view.reindex(vc);
        });
    }
}

/// One vCenter's polled picture as the polling node stores it for the
/// others (key `maintenance:<vc>` in the store's key-value table).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct StoredPicture {
    /// When the poll started, Unix milliseconds (wall clock: nodes share no
    /// monotonic clock).
    polled_at_ms: i64,
    hosts: HashMap<String, Host>,
    vms: HashMap<String, (String, String)>,
    datastores: HashMap<String, (String, Vec<String>)>,
}

impl StoredPicture {
    fn of(view: &MaintenanceView, vc: &str, polled_at_ms: i64) -> Self {
        Self {
            polled_at_ms,
            hosts: view.hosts.get(vc).cloned().unwrap_or_default(),
            vms: view.vms.get(vc).cloned().unwrap_or_default(),
            datastores: view.datastores.get(vc).cloned().unwrap_or_default(),
        }
    }

    fn into_view(self, vc: &str) -> MaintenanceView {
        let mut view = MaintenanceView::default();
        view.hosts.insert(vc.to_owned(), self.hosts);
        view.vms.insert(vc.to_owned(), self.vms);
        view.datastores.insert(vc.to_owned(), self.datastores);
        view.reindex(vc);
        view
    }

    /// The local instant of the poll's start, for [`SharedMaintenance::replace`].
    fn started(&self, now_ms: i64) -> Instant {
        let age = Duration::from_millis(now_ms.saturating_sub(self.polled_at_ms).max(0) as u64);
        Instant::now().checked_sub(age).unwrap_or_else(Instant::now)
    }
}

fn picture_key(vc: &str) -> String {
    crate::store::singletons::maintenance(vc)
}

fn unix_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

async fn poll_one(client: &Client, vc: &str) -> Result<MaintenanceView, VsphereError> {
    let mut view = MaintenanceView::default();
    for host in client.hosts().await? {
        view.set_host(vc, &host.moref.value, &host.name, host.in_maintenance);
    }
    for vm in client
        .list_objects("VirtualMachine", &["name", "runtime.host"])
        .await?
    {
        let name = vm.get("name").and_then(|v| v.as_str()).unwrap_or_default();
        if let Some(host) = vm.get("runtime.host").and_then(|v| v.as_moref()) {
            view.set_vm(vc, &vm.moref.value, name, &host.value);
        }
    }
    for ds in client.list_objects("Datastore", &["name", "host"]).await? {
        let name = ds.get("name").and_then(|v| v.as_str()).unwrap_or_default();
        let hosts = ds
            .get("host")
            .and_then(|v| v.as_element())
            .map(|e| {
                e.children_named("DatastoreHostMount")
                    .filter_map(|m| m.child("key").and_then(|k| k.as_moref()))
                    .map(|m| m.value)
                    .collect()
            })
            .unwrap_or_default();
        view.set_datastore(vc, &ds.moref.value, name, hosts);
    }
    Ok(view)
}

/// Polls every vCenter every `interval`, and at once when poked.
/// How often a node that does not poll a vCenter reads the picture the
/// polling node stored (at most; never less often than `[silence] poll`).
const READ_STORED_EVERY: Duration = Duration::from_secs(2);

/// Keeps the maintenance picture of every vCenter current: the holder of a
/// vCenter's `maintenance:<vc>` role polls it and stores the picture; the
/// other nodes load the stored one. (SQLite: always the holder.)
pub async fn poll_loop(
    shared: SharedMaintenance,
    vcenters: Vcenters,
    store: crate::store::Store,
    interval: Duration,
    shutdown: CancellationToken,
) {
    // Per vCenter, the poll time of the stored picture last applied.
    let mut applied: HashMap<String, i64> = HashMap::new();
    loop {
        let mut reader = false;
        for (vc, client) in vcenters.iter() {
            match store.singleton(&picture_key(vc)).await {
                Ok(Role::Holding | Role::TookOver) => {
                    poll_and_store(&shared, &store, client, vc).await
                }
                Ok(Role::Standby) => {
                    reader = true;
                    load_stored(&shared, &store, vc, &mut applied).await;
                }
                Err(e) => {
                    tracing::warn!(vcenter = %vc, error = %e, "cannot ask which node polls maintenance; keeping the last picture")
                }
            }
        }
        let wait = if reader {
            interval.min(READ_STORED_EVERY)
        } else {
            interval
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = shared.poke.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn poll_and_store(
    shared: &SharedMaintenance,
    store: &crate::store::Store,
    client: &Client,
    vc: &str,
) {
    let (started, polled_at_ms) = (Instant::now(), unix_ms());
    let view = match poll_one(client, vc).await {
        Ok(view) => view,
        Err(e) => {
            tracing::warn!(vcenter = %vc, error = %e, "maintenance poll failed; keeping the last picture");
            return;
        }
    };
    let stored = serde_json::to_string(&StoredPicture::of(&view, vc, polled_at_ms));
    shared.replace(vc, view, started);
    let stored = match stored {
        Ok(json) => store.kv_set(&picture_key(vc), &json).await,
        Err(e) => Err(crate::store::StoreError::Unavailable(e.to_string())),
    };
    if let Err(e) = stored {
        tracing::warn!(vcenter = %vc, error = %e, "cannot store the maintenance picture for the other nodes");
    }
}

async fn load_stored(
    shared: &SharedMaintenance,
    store: &crate::store::Store,
    vc: &str,
    applied: &mut HashMap<String, i64>,
) {
    let picture = match store.kv_get(&picture_key(vc)).await {
        Ok(Some(json)) => serde_json::from_str::<StoredPicture>(&json),
        Ok(None) => return, // the polling node has not stored one yet
        Err(e) => {
            tracing::warn!(vcenter = %vc, error = %e, "cannot read the stored maintenance picture; keeping the last one");
            return;
        }
    };
    match picture {
        Ok(picture) if applied.get(vc) != Some(&picture.polled_at_ms) => {
            applied.insert(vc.to_owned(), picture.polled_at_ms);
            let started = picture.started(unix_ms());
            shared.replace(vc, picture.into_view(vc), started);
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(vcenter = %vc, error = %e, "stored maintenance picture unreadable; keeping the last one")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventType, Moref, Source};

    fn event(kind: EntityKind, name: &str, moref: Option<&str>) -> Event {
        let mut e = Event::new(Source::Snmp, "vc1", EventType::alarm_status_changed());
        e.entity.kind = Some(kind);
        e.entity.name = Some(name.into());
        e.entity.moref = moref.and_then(Moref::parse);
        e
    }

    #[test]
    fn a_stored_picture_carries_one_vcenter_and_its_poll_time() {
        let mut polled = view();
        polled.set_host("vc2", "host-9", "other", true);
        let json = serde_json::to_string(&StoredPicture::of(&polled, "vc1", 1_000)).unwrap();
        let stored: StoredPicture = serde_json::from_str(&json).unwrap();
        assert_eq!(stored.polled_at_ms, 1_000);
        // 5 s old by the reader's clock: the poll started 5 s before now.
        let age = stored.started(6_000).elapsed();
        assert!(
            age >= Duration::from_secs(5) && age < Duration::from_secs(6),
            "{age:?}"
        );
        let loaded = stored.into_view("vc1");
        assert_eq!(
            loaded.host_by_moref("vc1", "host-1"),
            polled.host_by_moref("vc1", "host-1")
        );
        assert_eq!(
            loaded.host_by_moref("vc1", "host-2"),
            polled.host_by_moref("vc1", "host-2")
        );
        assert_eq!(
            loaded.host_by_moref("vc2", "host-9"),
            None,
            "only the polled vCenter"
        );
    }

    fn view() -> MaintenanceView {
        let mut v = MaintenanceView::default();
        v.set_host("vc1", "host-1", "esx01", true);
        v.set_host("vc1", "host-2", "esx02", false);
        v.set_vm("vc1", "vm-1", "web01", "host-1");
        v.set_vm("vc1", "vm-2", "db01", "host-2");
        v.set_datastore("vc1", "datastore-1", "local-esx01", vec!["host-1".into()]);
        v.set_datastore(
            "vc1",
            "datastore-2",
            "shared",
            vec!["host-1".into(), "host-2".into()],
        );
        v
    }

    #[test]
    fn entities_on_a_host_in_maintenance() {
        let v = view();
        assert_eq!(
            v.host_in_maintenance_for(&event(EntityKind::HostSystem, "ESX01", None))
                .as_deref(),
            Some("esx01")
        );
        assert_eq!(
            v.host_in_maintenance_for(&event(EntityKind::HostSystem, "x", Some("host-1")))
                .as_deref(),
            Some("esx01")
        );
        assert_eq!(
            v.host_in_maintenance_for(&event(EntityKind::HostSystem, "esx02", None)),
            None
        );
        assert_eq!(
            v.host_in_maintenance_for(&event(EntityKind::VirtualMachine, "web01", None))
                .as_deref(),
            Some("esx01")
        );
        assert_eq!(
            v.host_in_maintenance_for(&event(EntityKind::VirtualMachine, "db01", Some("vm-2"))),
            None
        );
        assert_eq!(
            v.host_in_maintenance_for(&event(EntityKind::Datastore, "local-esx01", None))
                .as_deref(),
            Some("esx01")
        );
        assert_eq!(
            v.host_in_maintenance_for(&event(EntityKind::Datastore, "shared", None)),
            None,
            "still mounted by a host in service"
        );
        assert_eq!(
            v.hosts_in_maintenance(),
            vec![("vc1".to_owned(), "esx01".to_owned())]
        );
    }

    #[test]
    fn events_override_until_a_newer_poll() {
        let shared = SharedMaintenance::default();
        shared.update(|v| *v = view());
        let mut exit = event(EntityKind::HostSystem, "esx01", None);
        exit.event_type = EventType::parse("exit.maintenance.mode").unwrap();
        shared.observe_event(&exit);
        assert_eq!(
            shared.snapshot().host_in_maintenance_for(&event(
                EntityKind::HostSystem,
                "esx01",
                None
            )),
            None
        );
        // A poll that started before the event keeps the event's state…
        let before = Instant::now() - Duration::from_secs(5);
        shared.replace("vc1", view(), before);
        assert_eq!(
            shared.snapshot().host_in_maintenance_for(&event(
                EntityKind::HostSystem,
                "esx01",
                None
            )),
            None
        );
        // …a newer poll is the truth.
        shared.replace("vc1", view(), Instant::now());
        assert!(
            shared
                .snapshot()
                .host_in_maintenance_for(&event(EntityKind::HostSystem, "esx01", None))
                .is_some()
        );
    }

    proptest::proptest! {
        /// Looking an entity up by name through the index finds what a
        /// search of every entity finds: one with that name (names may
        /// repeat), or none when no entity has it, after any sequence of
        /// additions and renames, and after a rebuild.
        #[test]
        fn the_name_index_finds_what_a_search_finds(
            steps in proptest::collection::vec((0..3usize, 0..4usize, 0..3usize), 0..40),
        ) {
            let names = ["web01", "Web01", "db01"];
            let mut view = MaintenanceView::default();
            for (kind, moref, name) in steps {
                let (moref, name) = (format!("obj-{moref}"), names[name]);
                match kind {
                    0 => view.set_vm("vc1", &moref, name, "host-1"),
                    1 => view.set_host("vc1", &moref, name, false),
                    _ => view.set_datastore("vc1", &moref, name, vec![]),
                }
            }
            let mut rebuilt = view.clone();
            rebuilt.reindex("vc1");
            for v in [&view, &rebuilt] {
                for name in names {
                    let vms: Vec<&String> = v.vms.get("vc1").into_iter().flatten()
                        .filter(|(_, (n, _))| n == name).map(|(m, _)| m).collect();
                    let found = v.moref_named("vc1", name, |n| &n.vms);
                    proptest::prop_assert_eq!(found.is_some(), !vms.is_empty());
                    proptest::prop_assert!(found.is_none_or(|m| vms.iter().any(|x| *x == m)));
                    let hosts: Vec<&String> = v.hosts.get("vc1").into_iter().flatten()
                        .filter(|(_, h)| h.name.to_lowercase() == name.to_lowercase()).map(|(m, _)| m).collect();
                    let found = v.moref_named("vc1", &name.to_lowercase(), |n| &n.hosts);
                    proptest::prop_assert_eq!(found.is_some(), !hosts.is_empty());
                    proptest::prop_assert!(found.is_none_or(|m| hosts.iter().any(|x| *x == m)));
                    let stores: Vec<&String> = v.datastores.get("vc1").into_iter().flatten()
                        .filter(|(_, (n, _))| n == name).map(|(m, _)| m).collect();
                    let found = v.moref_named("vc1", name, |n| &n.datastores);
                    proptest::prop_assert_eq!(found.is_some(), !stores.is_empty());
                    proptest::prop_assert!(found.is_none_or(|m| stores.iter().any(|x| *x == m)));
                }
            }
        }
    }
}
