//! Operator commands on the store's files, run beside (or instead of) a
//! gateway: `vcgate backup`, `vcgate restore`, `vcgate check-store`.
//!
//! Owns: reading just enough of the config to find the store, and printing
//! what the store module did. Must not: speak SQL (that is `store`'s), or need
//! the config's secrets — a backup must work from a shell that lacks the
//! service's environment (`*_env` passwords, token variables).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::config::{Config, StoreConfig};
use crate::store::{self, CheckReport};

/// The `[store]` section of `path` (embedded defaults without one). The file
/// is parsed (unknown keys are still errors) but not validated: validation
/// reads token files and environment variables a backup does not need.
pub fn store_config(path: Option<&Path>) -> anyhow::Result<StoreConfig> {
    parse_store_config(path)
}

/// The `[store]` section for a command that works on SQLite files only.
fn sqlite_store_config(path: Option<&Path>, what: &str) -> anyhow::Result<StoreConfig> {
    let config = parse_store_config(path)?;
    anyhow::ensure!(
        config.backend == crate::config::StoreBackend::Sqlite,
        "`vcgate {what}` works on the SQLite store; a PostgreSQL store is backed up, \
         restored and checked with PostgreSQL's tools (pg_dump, pg_restore, pg_amcheck)"
    );
    Ok(config)
}

fn parse_store_config(path: Option<&Path>) -> anyhow::Result<StoreConfig> {
    let Some(path) = path else {
        return Ok(StoreConfig::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config: Config =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(config.store)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn summary(report: &CheckReport) -> String {
    let events = report
        .events
        .map_or_else(|| "? events".to_owned(), |n| format!("{n} events"));
    format!(
        "schema {} of {}, {events}, {}",
        report.schema_version,
        report.known_version,
        mib(report.size_bytes)
    )
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// `vcgate migrate [--config PATH]`: brings the store's schema up to date.
/// PostgreSQL: the migrations run under an advisory lock (nodes starting at
/// the same time wait, then find nothing to do); the password comes from
/// `password_file` / `password_env` / `VCGATE_PG_PASSWORD` as for `serve`.
pub async fn migrate(config: Option<&Path>) -> anyhow::Result<ExitCode> {
    let store_config = store_config(config)?;
    match store_config.backend {
        crate::config::StoreBackend::Postgres => {
            let ran = store::migrate_postgres(&store_config)
                .await
                .context("migrating the PostgreSQL store")?;
            println!("PostgreSQL store: {ran} migration(s) run; schema up to date");
        }
        crate::config::StoreBackend::Sqlite => {
            // Opening migrates (and takes the one-gateway lock briefly).
            drop(
                store::open(&store_config)
                    .await
                    .context("opening the store")?,
            );
            println!(
                "SQLite store {}: schema up to date",
                store_config.path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `vcgate backup [--config PATH] DEST`
pub fn backup(config: Option<&Path>, dest: &Path) -> anyhow::Result<ExitCode> {
    let store_config = sqlite_store_config(config, "backup")?;
    let report = store::backup(&store_config, dest)
        .with_context(|| format!("backing up {}", store_config.path.display()))?;
    println!(
        "backup of {} written to {} in {:.1} s",
        store_config.path.display(),
        dest.display(),
        report.elapsed.as_secs_f64()
    );
    println!(
        "  {}  {}, integrity ok",
        file_name(&report.database),
        summary(&report.check)
    );
    for file in &report.engine_files {
        println!("  {}", file_name(file));
    }
    Ok(ExitCode::SUCCESS)
}

/// `vcgate restore [--config PATH] SRC`
pub fn restore(config: Option<&Path>, src: &Path) -> anyhow::Result<ExitCode> {
    let store_config = sqlite_store_config(config, "restore")?;
    let report = store::restore(&store_config, src).with_context(|| {
        format!(
            "restoring {} from {}",
            store_config.path.display(),
            src.display()
        )
    })?;
    println!(
        "restored {} ({}) to {}",
        report.check.path.display(),
        summary(&report.check),
        report.database.display()
    );
    for file in &report.engine_files {
        println!("  also {}", file_name(file));
    }
    if let Some(previous) = &report.previous {
        println!("  the files it replaced are in {}", previous.display());
    }
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    println!("start the gateway now; it migrates an older schema forward");
    Ok(ExitCode::SUCCESS)
}

/// `vcgate check-store [--config PATH] [FILE]`: exit 0 when sound, 2 otherwise.
pub fn check_store(config: Option<&Path>, file: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let path = match file {
        Some(file) => file,
        None => sqlite_store_config(config, "check-store")?.path,
    };
    match store::check_store(&path) {
        Ok(report) if report.is_ok() => {
            println!("{}: ok ({})", report.path.display(), summary(&report));
            Ok(ExitCode::SUCCESS)
        }
        Ok(report) => {
            println!(
                "{}: {} problem(s) ({})",
                report.path.display(),
                report.problems.len(),
                summary(&report)
            );
            for problem in &report.problems {
                println!("  {problem}");
            }
            Ok(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(2))
        }
    }
}
