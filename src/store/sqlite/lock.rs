//! Who holds a store file: an exclusive `flock` on `<database>.lock`, taken
//! by the gateway for as long as its store is open and by `restore` while it
//! replaces the files.
//!
//! Why a separate lock file: SQLite's own locks are per transaction and do
//! not say "a gateway owns this store". Two gateways on one file would both
//! run, and a restore under a running gateway would corrupt it. The kernel
//! drops the lock when the holder exits (even on `kill -9`), so a crash never
//! leaves a stale lock. Must not: decide anything about the database content.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::store::StoreError;

/// An exclusive hold on a store; released when dropped or when the process exits.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// `<database>.lock`, next to the database.
pub fn lock_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

impl StoreLock {
    /// Takes the lock without waiting; fails naming the holder's pid when
    /// another process (or another open `Store` in this one) has it.
    pub fn acquire(database: &Path) -> Result<Self, StoreError> {
        let path = lock_path(database);
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            // Private like the database beside it (it holds only a pid).
            .mode(0o600)
            .open(&path);
        // A lock file left by root (say, a restore) still locks when only
        // readable: `flock` needs no write access.
        let opened = match opened {
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => File::open(&path),
            other => other,
        };
        let mut file = opened.map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let who = if holder.is_empty() {
                    "another process".to_owned()
                } else {
                    format!("process {holder}")
                };
                return Err(StoreError::Open(format!(
                    "{} is in use by {who} (a running gateway?); stop it first",
                    database.display()
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(StoreError::Open(format!("{}: {e}", path.display())));
            }
        }
        // Only the holder writes its pid, so a reader never sees a torn one.
        let pid = std::process::id();
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{pid}"));
        if let Err(e) = written {
            tracing::debug!(error = %e, path = %path.display(), "cannot record the pid in the store lock");
        }
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_holders_pid_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("vcgate.db");
        let first = StoreLock::acquire(&db).unwrap();
        let err = StoreLock::acquire(&db).unwrap_err().to_string();
        assert!(
            err.contains(&format!("process {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("stop it first"), "{err}");
        drop(first);
        StoreLock::acquire(&db).expect("free again after the holder dropped it");
    }
}
