//! Copies of a SQLite store for operators: a consistent online backup, an
//! integrity check, and a restore that refuses to run under a gateway.
//!
//! Owns: the backup directory layout (`vcgate.db` plus the SNMP engine files
//! that live beside the database) and the rules for replacing a store's files.
//! Must not: start the writer, migrate, or touch a store a gateway holds
//! (except reading it for a backup, which SQLite's WAL mode allows).
//!
//! Why the backup API in one step: `sqlite3_backup_step(-1)` copies every page
//! inside one read transaction, so the copy is one snapshot — every commit
//! that finished before it started, nothing half-done — while the gateway's
//! writer keeps committing to the WAL. Copying in smaller steps would restart
//! whenever the writer commits, which under load may be forever.

use std::fs::{self, File};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::lock::{StoreLock, lock_path};
use super::schema::MIGRATIONS;
use crate::config::StoreConfig;
use crate::store::StoreError;

/// The database's name inside a backup directory.
pub const BACKUP_DATABASE: &str = "vcgate.db";

/// The SNMP engine state the gateway keeps beside its database
/// (`snmp-engine.json` for informs received, `snmp-forward-engine-<target>.json`
/// for v3 traps sent); see `ingest::snmp::load_engine`.
fn is_engine_file(name: &str) -> bool {
    name == "snmp-engine.json"
        || (name.starts_with("snmp-forward-engine-") && name.ends_with(".json"))
}

/// What `check` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub path: PathBuf,
    /// `PRAGMA user_version`: how many migrations the file has.
    pub schema_version: u32,
    /// How many migrations this build knows.
    pub known_version: u32,
    pub events: Option<u64>,
    pub size_bytes: u64,
    /// Empty when the file is a sound store this build can open.
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What `backup` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub database: PathBuf,
    pub engine_files: Vec<PathBuf>,
    /// The check of the finished copy (always clean: a failed check is an error).
    pub check: CheckReport,
    pub elapsed: Duration,
}

/// What `restore` did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    pub database: PathBuf,
    pub engine_files: Vec<PathBuf>,
    /// Where the files it replaced were moved (nothing is deleted).
    pub previous: Option<PathBuf>,
    pub check: CheckReport,
    /// Things done only partly (e.g. ownership not changed), worth a look.
    pub warnings: Vec<String>,
}

fn io_error(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Open(format!("{}: {e}", path.display()))
}

fn sql_error(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Open(format!("{}: {e}", path.display()))
}

/// A backup directory names its `vcgate.db`; a file names itself.
fn database_in(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(BACKUP_DATABASE)
    } else {
        path.to_owned()
    }
}

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Opens an existing database without creating one (a wrong path is an
/// error, not a new empty store).
fn open_existing(path: &Path) -> Result<Connection, StoreError> {
    if !path.is_file() {
        return Err(StoreError::Open(format!(
            "{}: no store there",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| sql_error(path, e))?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| sql_error(path, e))?;
    Ok(conn)
}

/// Checks a store file (or a backup directory): `PRAGMA integrity_check`, and
/// a schema version this build can open. Problems are reported, not errors;
/// only a missing file is an error.
pub fn check(path: &Path) -> Result<CheckReport, StoreError> {
    let database = database_in(path);
    let conn = open_existing(&database)?;
    let known = MIGRATIONS.len() as u32;
    let size_bytes = ["", "-wal"]
        .iter()
        .filter_map(|s| fs::metadata(format!("{}{s}", database.display())).ok())
        .map(|m| m.len())
        .sum();
    let mut report = CheckReport {
        path: database.clone(),
        schema_version: 0,
        known_version: known,
        events: None,
        size_bytes,
        problems: Vec::new(),
    };
    match conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)) {
        Ok(v) => report.schema_version = u32::try_from(v).unwrap_or(u32::MAX),
        Err(e) => {
            report
                .problems
                .push(format!("not a readable database: {e}"));
            return Ok(report);
        }
    }
    if report.schema_version == 0 {
        report
            .problems
            .push("not a vcgate store (schema version 0)".into());
    } else if report.schema_version > known {
        report.problems.push(format!(
            "schema version {} is newer than this build knows ({known}): use the vcgate that wrote it",
            report.schema_version
        ));
    }
    let integrity = conn
        .prepare("PRAGMA integrity_check(20)")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()
        });
    match integrity {
        Ok(rows) if rows == ["ok"] => {}
        Ok(rows) => report.problems.extend(rows),
        Err(e) => report.problems.push(format!("integrity check failed: {e}")),
    }
    if report.schema_version > 0 {
        report.events = conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
            .ok()
            .map(|n| n as u64);
    }
    Ok(report)
}

/// Copies the store at `config.path` into the directory `dest` (created; it
/// must not hold a backup already): `vcgate.db`, a self-contained snapshot
/// (rollback-journal mode, no `-wal` needed), checked before it gets its
/// name, plus the SNMP engine files. Safe while a gateway runs.
pub fn backup(config: &StoreConfig, dest: &Path) -> Result<BackupReport, StoreError> {
    let started = Instant::now();
    let source = &config.path;
    let source_dir = parent_dir(source);
    let src = open_existing(source)?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dest)
        .map_err(|e| io_error(dest, e))?;
    if same_file(dest, source_dir) {
        return Err(StoreError::Open(format!(
            "{}: that is the store's own directory; back up somewhere else",
            dest.display()
        )));
    }
    let database = dest.join(BACKUP_DATABASE);
    if database.exists() {
        return Err(StoreError::Open(format!(
            "{} exists: {} already holds a backup (choose a new directory)",
            database.display(),
            dest.display()
        )));
    }
    let partial = dest.join(format!("{BACKUP_DATABASE}.partial"));
    let _ = fs::remove_file(&partial);
    copy_snapshot(&src, source, &partial).inspect_err(|_| {
        let _ = fs::remove_file(&partial);
    })?;
    drop(src);
    let check = check(&partial)?;
    if !check.is_ok() {
        let _ = fs::remove_file(&partial);
        return Err(StoreError::Corrupt(format!(
            "the copy of {} failed its check: {}",
            source.display(),
            check.problems.join("; ")
        )));
    }
    fs::rename(&partial, &database).map_err(|e| io_error(&database, e))?;
    let mut engine_files = Vec::new();
    for name in engine_files_in(source_dir)? {
        let to = dest.join(&name);
        copy_atomically(&source_dir.join(&name), &to)?;
        engine_files.push(to);
    }
    sync_dir(dest)?;
    Ok(BackupReport {
        database,
        engine_files,
        check: CheckReport {
            path: dest.join(BACKUP_DATABASE),
            ..check
        },
        elapsed: started.elapsed(),
    })
}

/// One backup step over all pages: one read snapshot of `src`.
fn copy_snapshot(src: &Connection, source: &Path, to: &Path) -> Result<(), StoreError> {
    let mut dst = Connection::open(to).map_err(|e| sql_error(to, e))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o600)).map_err(|e| io_error(to, e))?;
    {
        let backup = Backup::new(src, &mut dst).map_err(|e| sql_error(source, e))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match backup.step(-1).map_err(|e| sql_error(source, e))? {
                StepResult::Done => break,
                StepResult::More => {}
                // The source is being recovered or checkpointed right now.
                StepResult::Busy | StepResult::Locked if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                StepResult::Busy | StepResult::Locked => {
                    return Err(StoreError::Unavailable(format!(
                        "{}: could not read a snapshot within 60 s",
                        source.display()
                    )));
                }
                _ => {}
            }
        }
    }
    // A backup is one file: no `-wal` to lose when it is copied around.
    dst.query_row("PRAGMA journal_mode=DELETE", [], |r| r.get::<_, String>(0))
        .map_err(|e| sql_error(to, e))?;
    dst.close().map_err(|(_, e)| sql_error(to, e))?;
    File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error(to, e))
}

/// Replaces the store at `config.path` with the backup at `src` (a backup
/// directory or a database file). Refuses while a gateway holds the store and
/// when the backup fails its check. The files it replaces (database, `-wal`,
/// `-shm`, and engine files the backup brings) are moved into
/// `pre-restore-<time>/` beside the store, never deleted. Run as root, the
/// new files get the store directory's owner (the service user).
pub fn restore(config: &StoreConfig, src: &Path) -> Result<RestoreReport, StoreError> {
    let source = database_in(src);
    let source_dir = parent_dir(&source).to_owned();
    let check = check(&source)?;
    if !check.is_ok() {
        return Err(StoreError::Corrupt(format!(
            "{}: {}",
            source.display(),
            check.problems.join("; ")
        )));
    }
    let target = config.path.clone();
    let dir = parent_dir(&target).to_owned();
    fs::create_dir_all(&dir).map_err(|e| io_error(&dir, e))?;
    if same_file(&source, &target) {
        return Err(StoreError::Open(format!(
            "{} is the store itself",
            source.display()
        )));
    }
    let _lock = StoreLock::acquire(&target)?;

    let incoming_engines: Vec<String> = engine_files_in(&source_dir)?
        .into_iter()
        .filter(|name| !current_engine_is_newer(&source_dir.join(name), &dir.join(name)))
        .collect();
    let mut replaced: Vec<PathBuf> = ["", "-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", target.display())))
        .collect();
    replaced.extend(incoming_engines.iter().map(|name| dir.join(name)));
    let previous = move_aside(&dir, &replaced)?;

    copy_atomically(&source, &target)?;
    let mut engine_files = Vec::new();
    for name in &incoming_engines {
        let to = dir.join(name);
        copy_atomically(&source_dir.join(name), &to)?;
        engine_files.push(to);
    }
    sync_dir(&dir)?;

    let mut owned: Vec<PathBuf> = vec![target.clone(), lock_path(&target)];
    owned.extend(engine_files.iter().cloned());
    owned.extend(previous.iter().cloned());
    let warnings = give_to_directory_owner(&dir, &owned);
    Ok(RestoreReport {
        database: target,
        engine_files,
        previous,
        check,
        warnings,
    })
}

/// Same engine id and at least as many boots on disk already: keep that file.
/// SNMPv3 peers reject an engine whose boot counter went backwards (RFC 3414).
fn current_engine_is_newer(incoming: &Path, current: &Path) -> bool {
    let read = |p: &Path| -> Option<(String, u64)> {
        let v: serde_json::Value = serde_json::from_slice(&fs::read(p).ok()?).ok()?;
        Some((v["engine_id"].as_str()?.to_owned(), v["boots"].as_u64()?))
    };
    match (read(incoming), read(current)) {
        (Some((id_in, boots_in)), Some((id_now, boots_now))) => {
            id_in == id_now && boots_now >= boots_in
        }
        _ => false,
    }
}

/// Moves the existing ones of `files` into a new `pre-restore-<time>/` in `dir`.
fn move_aside(dir: &Path, files: &[PathBuf]) -> Result<Option<PathBuf>, StoreError> {
    let present: Vec<&PathBuf> = files.iter().filter(|f| f.exists()).collect();
    if present.is_empty() {
        return Ok(None);
    }
    let stamp = time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .map_err(|e| StoreError::Open(e.to_string()))?;
    let aside = dir.join(format!("pre-restore-{stamp}"));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&aside)
        .map_err(|e| io_error(&aside, e))?;
    for file in present {
        let name = file.file_name().expect("store files have names");
        fs::rename(file, aside.join(name)).map_err(|e| io_error(file, e))?;
    }
    sync_dir(&aside)?;
    Ok(Some(aside))
}

/// Copies `from` to a temporary name beside `to`, syncs it, then renames it
/// into place: `to` is either the old file or the whole new one.
fn copy_atomically(from: &Path, to: &Path) -> Result<(), StoreError> {
    let mut tmp = to.as_os_str().to_owned();
    tmp.push(".restore-tmp");
    let tmp = PathBuf::from(tmp);
    fs::copy(from, &tmp).map_err(|e| io_error(from, e))?;
    File::open(&tmp)
        .and_then(|f| f.sync_all())
        .and_then(|()| fs::rename(&tmp, to))
        .map_err(|e| {
            let _ = fs::remove_file(&tmp);
            io_error(to, e)
        })
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error(dir, e))
}

fn engine_files_in(dir: &Path) -> Result<Vec<String>, StoreError> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| io_error(dir, e))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| is_engine_file(name))
        .collect();
    names.sort();
    Ok(names)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Root restoring into the service's state directory must not leave files
/// the service user cannot write: hand them to the directory's owner.
fn give_to_directory_owner(dir: &Path, files: &[PathBuf]) -> Vec<String> {
    let Ok(owner) = fs::metadata(dir) else {
        return Vec::new();
    };
    let mut warnings = Vec::new();
    for file in files {
        let Ok(meta) = fs::metadata(file) else {
            continue;
        };
        if meta.uid() == owner.uid() && meta.gid() == owner.gid() {
            continue;
        }
        if let Err(e) = std::os::unix::fs::chown(file, Some(owner.uid()), Some(owner.gid())) {
            warnings.push(format!(
                "{}: cannot give it to uid {} gid {} (the directory's owner): {e}",
                file.display(),
                owner.uid(),
                owner.gid()
            ));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Event, EventId, EventType, Source};
    use crate::store::Store;

    fn config(dir: &Path) -> StoreConfig {
        StoreConfig {
            path: dir.join("vcgate.db"),
            ..StoreConfig::default()
        }
    }

    async fn fill(store: &Store, n: usize) -> Vec<EventId> {
        let mut ids = Vec::new();
        for _ in 0..n {
            let e = Event::new(Source::Api, "vc1", EventType::parse("test.backup").unwrap());
            ids.push(store.accept(e).await.unwrap().id());
        }
        ids
    }

    fn write_engine(path: &Path, id: &str, boots: u32) {
        fs::write(path, format!(r#"{{"engine_id":"{id}","boots":{boots}}}"#)).unwrap();
    }

    #[tokio::test]
    async fn a_backup_of_an_open_store_checks_clean_and_restores_in_place_of_a_stopped_one() {
        let live = tempfile::tempdir().unwrap();
        let cfg = config(live.path());
        let store = Store::open(&cfg).await.unwrap();
        let ids = fill(&store, 25).await;
        write_engine(&live.path().join("snmp-engine.json"), "80001adc05aa", 3);
        write_engine(
            &live.path().join("snmp-forward-engine-nms.json"),
            "80001adc05bb",
            7,
        );

        let backups = tempfile::tempdir().unwrap();
        let dest = backups.path().join("b1");
        let report = backup(&cfg, &dest).unwrap();
        assert_eq!(report.check.events, Some(25));
        assert_eq!(report.check.schema_version, MIGRATIONS.len() as u32);
        assert_eq!(report.engine_files.len(), 2);
        assert!(!dest.join("vcgate.db-wal").exists(), "self-contained copy");
        let again = backup(&cfg, &dest).unwrap_err().to_string();
        assert!(again.contains("already holds a backup"), "{again}");
        let own = backup(&cfg, live.path()).unwrap_err().to_string();
        assert!(own.contains("own directory"), "{own}");

        // The store is open: a restore must refuse and change nothing.
        let refused = restore(&cfg, &dest).unwrap_err().to_string();
        assert!(refused.contains("stop it first"), "{refused}");
        fill(&store, 5).await;
        drop(store);

        // The live engine has booted more often since: it stays.
        write_engine(&live.path().join("snmp-engine.json"), "80001adc05aa", 4);
        fs::remove_file(live.path().join("snmp-forward-engine-nms.json")).unwrap();
        let restored = restore(&cfg, &dest).unwrap();
        assert!(restored.warnings.is_empty(), "{:?}", restored.warnings);
        let previous = restored.previous.expect("old files kept");
        assert!(previous.join("vcgate.db").exists());
        assert_eq!(
            restored.engine_files,
            vec![live.path().join("snmp-forward-engine-nms.json")]
        );
        let kept = fs::read_to_string(live.path().join("snmp-engine.json")).unwrap();
        assert!(kept.contains("\"boots\":4"), "{kept}");

        let store = Store::open(&cfg).await.unwrap();
        assert_eq!(store.stats().await.unwrap().events, 25);
        for id in ids {
            assert!(
                store.get_event(id).await.unwrap().is_some(),
                "{id} restored"
            );
        }
        // What was replaced is still a store of its own (30 events).
        let old = check(&previous).unwrap();
        assert!(old.is_ok(), "{:?}", old.problems);
        assert_eq!(old.events, Some(30));
    }

    #[test]
    fn check_reports_garbage_unknown_schemas_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.db");
        fs::write(&garbage, vec![0x5a; 8192]).unwrap();
        let report = check(&garbage).unwrap();
        assert!(!report.is_ok());
        assert!(
            report.problems[0].contains("not a readable database"),
            "{:?}",
            report.problems
        );

        let future = dir.path().join("future.db");
        let conn = Connection::open(&future).unwrap();
        conn.execute_batch("CREATE TABLE events (x); PRAGMA user_version = 999;")
            .unwrap();
        drop(conn);
        let report = check(&future).unwrap();
        assert!(
            report
                .problems
                .iter()
                .any(|p| p.contains("newer than this build")),
            "{:?}",
            report.problems
        );

        let empty = dir.path().join("empty.db");
        Connection::open(&empty)
            .unwrap()
            .execute_batch("CREATE TABLE t (x);")
            .unwrap();
        assert!(check(&empty).unwrap().problems[0].contains("not a vcgate store"));

        let missing = check(&dir.path().join("nope.db")).unwrap_err().to_string();
        assert!(missing.contains("no store there"), "{missing}");
        assert!(
            !dir.path().join("nope.db").exists(),
            "check never creates a store"
        );
    }

    #[test]
    fn restore_refuses_a_damaged_backup_and_leaves_the_store_alone() {
        let live = tempfile::tempdir().unwrap();
        let cfg = config(live.path());
        fs::write(&cfg.path, b"the current store").unwrap();
        let backups = tempfile::tempdir().unwrap();
        fs::write(backups.path().join(BACKUP_DATABASE), vec![0u8; 4096]).unwrap();
        let err = restore(&cfg, backups.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
        assert_eq!(fs::read(&cfg.path).unwrap(), b"the current store");
    }
}
