//! Reloadable settings: routes, functions, subscriptions and secrets, swapped
//! atomically on SIGHUP or `POST /api/v1/reload`.
//!
//! A reload re-reads the whole config file and validates it first; when it is
//! invalid (or a secret cannot be loaded) the old settings stay and the error
//! names the key. Listeners, the store, SNMP users, vCenters and monitoring
//! targets need a restart and are not touched by a reload.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use crate::config::Config;
use crate::config::secrets::Secrets;
use crate::route::Router;
use crate::route::subscriptions::Registry;

/// One consistent set of reloadable settings.
#[derive(Debug)]
pub struct Settings {
    pub router: Router,
    pub registry: Registry,
    pub secrets: Secrets,
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Self, String> {
        Ok(Self {
            router: Router::new(config.route.clone()),
            registry: Registry::from_config(config),
            secrets: Secrets::load(&config.secret).map_err(|e| e.to_string())?,
        })
    }
}

/// The current settings; readers take a snapshot (`load`) per unit of work.
#[derive(Clone)]
pub struct Live {
    current: Arc<RwLock<Arc<Settings>>>,
    generation: watch::Sender<u64>,
    /// The file to re-read; `None` when running on embedded defaults.
    config_path: Option<PathBuf>,
}

/// What a reload changed, for the caller.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReloadSummary {
    pub generation: u64,
    pub routes: usize,
    pub functions: usize,
    pub subscriptions: usize,
    pub secret_sets: usize,
}

impl Live {
    pub fn new(settings: Settings, config_path: Option<PathBuf>) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(settings))),
            generation: watch::Sender::new(0),
            config_path,
        }
    }

    pub fn load(&self) -> Arc<Settings> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes whenever new settings are in place.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    pub fn config_path(&self) -> Option<&Path> {
        self.config_path.as_deref()
    }

    /// Re-reads the config file; on any error the current settings stay.
    pub fn reload(&self) -> Result<ReloadSummary, String> {
        let path = self.config_path.as_deref().ok_or_else(|| {
            "running on embedded defaults: there is no config file to reload".to_owned()
        })?;
        let config = Config::load(path).map_err(|e| e.to_string())?;
        let settings = Settings::from_config(&config)?;
        let summary = ReloadSummary {
            generation: *self.generation.borrow() + 1,
            routes: config.route.len(),
            functions: config.function.len(),
            subscriptions: config.subscription.len(),
            secret_sets: config.secret.len(),
        };
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(settings);
        self.generation.send_replace(summary.generation);
        tracing::info!(
            routes = summary.routes,
            functions = summary.functions,
            subscriptions = summary.subscriptions,
            "settings reloaded"
        );
        Ok(summary)
    }
}
