//! Data files with private permissions: the data directory is created 0700,
//! the database and the engine state files 0600 (SQLite gives its `-wal` and
//! `-shm` files the database file's mode). Existing directories and files
//! are never loosened; one readable by others is reported at start.
//!
//! Must not: change the mode of anything it did not create.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and missing parents) with mode 0700; an existing one is left as is.
pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Creates an empty `path` with mode 0600 unless it exists.
pub fn ensure_private_file(path: &Path) -> std::io::Result<()> {
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Replaces `path` with `bytes` atomically (a 0600 temporary file, fsynced,
/// renamed over it).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    // A leftover temporary file could carry an older, looser mode.
    let _ = std::fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Warns when `path` may be read by users other than its owner and group's
/// members (mode bits for "others").
pub fn warn_if_world_readable(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o007 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "data readable by other users; vcgate creates its files 0600 in a 0700 directory \
             but does not change existing ones (chmod o-rwx)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_private_and_keeps_existing_modes() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("a/b");
        ensure_private_dir(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&base.path().join("a")), 0o700);
        let db = dir.join("x.db");
        ensure_private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        let engine = dir.join("engine.json");
        write_private(&engine, b"{}").unwrap();
        assert_eq!(mode(&engine), 0o600);
        write_private(&engine, b"{\"a\":1}").unwrap();
        assert_eq!(std::fs::read(&engine).unwrap(), b"{\"a\":1}");
        // Existing ones are not touched.
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
        ensure_private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o640);
    }
}
