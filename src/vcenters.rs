//! The configured vCenters with an API endpoint: one vSphere client each,
//! built from `[[vcenter]]` (url, username, password from file/env, TLS
//! settings). Shared by enrichment, the built-in functions and the guard.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Config, ConfigError, VcenterConfig, resolve_secret};
use crate::vsphere::{Client, ClientConfig};

/// vSphere clients by configured vCenter name.
#[derive(Clone, Default, Debug)]
pub struct Vcenters {
    clients: Arc<HashMap<String, Client>>,
    /// Every configured `url` by vCenter name (VEBA's CloudEvent `source`).
    urls: Arc<HashMap<String, String>>,
}

/// The configured SDK URL of every `[[vcenter]]` that has one, by name.
pub fn sdk_urls(config: &Config) -> HashMap<String, String> {
    config
        .vcenter
        .iter()
        .filter_map(|vc| Some((vc.name.clone(), vc.url.clone()?)))
        .collect()
}

/// Builds the client for one `[[vcenter]]`; `Ok(None)` when it has no `url`.
pub fn client_for(vc: &VcenterConfig) -> Result<Option<Client>, ConfigError> {
    let Some(url) = &vc.url else { return Ok(None) };
    let key = format!("vcenter {}", vc.name);
    let password = resolve_secret(
        &format!("{key}.password"),
        &vc.password,
        &vc.password_file,
        &vc.password_env,
    )?
    .ok_or_else(|| ConfigError::Invalid {
        key: format!("{key}.password_file"),
        message: "missing password".into(),
    })?;
    let client = Client::new(ClientConfig {
        name: vc.name.clone(),
        url: url.clone(),
        username: vc.username.clone().unwrap_or_default(),
        password: password.expose().to_owned(),
        insecure: vc.insecure,
        ca_file: vc.ca_file.clone(),
        timeout: vc.timeout,
        max_response: vc.max_response.0,
    })
    .map_err(|e| ConfigError::Invalid {
        key: format!("{key}.url"),
        message: e.to_string(),
    })?;
    Ok(Some(client))
}

impl Vcenters {
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let mut clients = HashMap::new();
        for vc in &config.vcenter {
            if let Some(client) = client_for(vc)? {
                clients.insert(vc.name.clone(), client);
            }
        }
        Ok(Self {
            clients: Arc::new(clients),
            urls: Arc::new(sdk_urls(config)),
        })
    }

    pub fn get(&self, vcenter: &str) -> Option<&Client> {
        self.clients.get(vcenter)
    }

    /// The configured SDK URL of `vcenter`.
    pub fn sdk_url(&self, vcenter: &str) -> Option<&str> {
        self.urls.get(vcenter).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Client)> {
        self.clients.iter()
    }
}
