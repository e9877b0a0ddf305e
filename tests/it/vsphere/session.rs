//! Session handling against the simulator: login, re-login, TLS, outages,
//! and what the client logs.

use super::*;

#[tokio::test]
async fn vsphere_wrong_credentials_are_invalid_login() {
    let sim = Vcsim::start_with_credentials("admin", "right-pass");
    let bad = Client::new(client_config(&sim.url, "admin", "wrong-pass-XYZ")).unwrap();
    let err = bad.connect().await.expect_err("login must fail");
    assert!(matches!(err, VsphereError::InvalidLogin), "{err:?}");
    // Neither the error nor the client's Debug may leak the password.
    for text in [err.to_string(), format!("{err:?}"), format!("{bad:?}")] {
        assert!(!text.contains("wrong-pass-XYZ"), "{text}");
    }
    // A call without a session logs in first and fails the same way.
    assert!(matches!(bad.hosts().await, Err(VsphereError::InvalidLogin)));

    let good = Client::new(client_config(&sim.url, "admin", "right-pass")).unwrap();
    let sc = good.connect().await.expect("right credentials");
    assert_eq!(sc.about.api_type, "VirtualCenter");
    assert!(!sc.about.api_version.is_empty());
    assert!(good.is_logged_in());
}

#[tokio::test]
async fn vsphere_expired_session_relogs_in_transparently() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    assert_eq!(client.hosts().await.unwrap().len(), 4);

    let expired = sim.control_post("/vcsim/sessions/expire").await;
    assert!(expired["expired"].as_u64().unwrap() >= 1, "{expired}");

    // The next calls meet NotAuthenticated, log in again and succeed. Several
    // at once (clones share the session) must cause a single re-login.
    let calls = (0..6).map(|_| {
        let c = client.clone();
        async move { c.hosts().await }
    });
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.expect("after expiry").len(), 4);
    }
    let logins = client
        .query_events(&EventFilterSpec {
            event_type_ids: vec!["UserLoginSessionEvent".into()],
            ..EventFilterSpec::default()
        })
        .await
        .unwrap();
    let ours = logins
        .iter()
        .filter(|e| e.user_name.as_deref() == Some(USER))
        .count();
    assert_eq!(ours, 2, "expected exactly one re-login: {logins:#?}");

    // connect() again replaces the session instead of adding one.
    client.connect().await.unwrap();
    let logouts = client
        .query_events(&EventFilterSpec {
            event_type_ids: vec!["UserLogoutSessionEvent".into()],
            ..EventFilterSpec::default()
        })
        .await
        .unwrap();
    assert_eq!(logouts.len(), 1, "{logouts:#?}");

    // Logout, then a call logs in again by itself.
    client.logout().await.unwrap();
    assert!(!client.is_logged_in());
    assert!(!client.vms().await.unwrap().is_empty());
    assert!(client.is_logged_in());
}

#[tokio::test]
async fn vsphere_vcenter_down_then_back() {
    let mut sim = Vcsim::start();
    let client = connected(&sim).await;
    assert_eq!(client.hosts().await.unwrap().len(), 4);

    sim.stop();
    let err = client.hosts().await.expect_err("simulator is down");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(
        matches!(err, VsphereError::Transport { timeout: false, .. }),
        "{err:?}"
    );

    // A fresh simulator on the same port knows no session: the client meets
    // NotAuthenticated, logs in again and carries on.
    sim.restart();
    assert_eq!(client.hosts().await.expect("after restart").len(), 4);
}

#[tokio::test]
async fn vsphere_tls_needs_the_ca_or_explicit_insecure() {
    let sim = Vcsim::start_tls();
    assert!(sim.url.starts_with("https://"), "{}", sim.url);

    // Unknown CA: refused, and not mistaken for "vCenter down".
    let strict = Client::new(client_config(&sim.url, USER, "pw")).unwrap();
    let err = strict.connect().await.expect_err("untrusted certificate");
    assert!(matches!(err, VsphereError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    assert!(!err.is_unavailable(), "{err:?}");

    let mut with_ca = client_config(&sim.url, USER, "pw");
    with_ca.ca_file = sim.ca_file.clone();
    let client = Client::new(with_ca).unwrap();
    assert_eq!(client.hosts().await.expect("trusted via ca_file").len(), 4);

    let mut insecure = client_config(&sim.url, USER, "pw");
    insecure.insecure = true;
    let client = Client::new(insecure).unwrap();
    assert_eq!(client.hosts().await.expect("insecure").len(), 4);
}

/// Captures everything the client logs (TRACE) on this thread.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn vsphere_logs_never_contain_secrets() {
    let sim = Vcsim::start_with_credentials("admin", "Pa55-w0rd-in-logs?");
    // While only one dispatcher exists, tracing decides whether a callsite is
    // enabled from the default of whichever thread hits it first; another
    // test thread (no subscriber) would then disable the client's callsites
    // for good. With a second live dispatcher, every dispatcher is asked.
    let _second = tracing::Dispatch::new(tracing_subscriber::registry());
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let client = Client::new(client_config(&sim.url, "admin", "Pa55-w0rd-in-logs?")).unwrap();
    client.hosts().await.unwrap();
    sim.control_post("/vcsim/sessions/expire").await;
    client.hosts().await.unwrap(); // re-login path
    let bad = Client::new(client_config(&sim.url, "admin", "Pa55-w0rd-in-logs?-not")).unwrap();
    assert!(bad.connect().await.is_err());

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("logged in to vCenter"),
        "nothing captured: {logs}"
    );
    assert!(logs.contains("session expired"), "{logs}");
    assert!(!logs.contains("Pa55-w0rd"), "{logs}");
    assert!(!logs.contains("vmware_soap_session"), "{logs}");
}
