//! The `vcgate` command line: check-config, get, emit — against a running server.

use serde_json::Value;

use crate::support::{READ_TOKEN, TestApp, alarm_body, vcgate_cli};

#[tokio::test]
async fn get_and_emit_talk_to_the_server() {
    let app = TestApp::spawn_with("").await;
    let r = app
        .post_json(
            "/api/v1/alarms",
            &alarm_body("cli-1", "VM created", "web01", "Red"),
        )
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.wait_processed().await;

    // emit needs the ingest token: with the read token it is refused, naming why.
    let denied = vcgate_cli(
        &[
            "emit",
            "vm.created",
            "--data",
            "{}",
            "--server",
            &app.base_url,
        ],
        &[("VCGATE_TOKEN", READ_TOKEN)],
    );
    assert!(!denied.status.success());
    assert!(String::from_utf8_lossy(&denied.stderr).contains("401"));
    let emitted = vcgate_cli(
        &[
            "emit",
            "vm.deployed",
            "--data",
            r#"{"message":"from cli"}"#,
            "--subject",
            "web09",
            "--server",
            &app.base_url,
        ],
        &[("VCGATE_TOKEN", &app.ingest_token)],
    );
    assert!(
        emitted.status.success(),
        "{}",
        String::from_utf8_lossy(&emitted.stderr)
    );
    assert!(String::from_utf8_lossy(&emitted.stdout).starts_with("accepted event "));

    let env = [
        ("VCGATE_TOKEN", READ_TOKEN),
        ("VCGATE_SERVER", app.base_url.as_str()),
    ];
    let table = vcgate_cli(&["get", "events"], &env);
    assert!(
        table.status.success(),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("ID"), "{text}");
    assert!(
        text.contains(&id) && text.contains("web01") && text.contains("vm.deployed"),
        "{text}"
    );

    let json = vcgate_cli(&["get", "event", &id, "--json"], &env);
    let event: Value = serde_json::from_slice(&json.stdout).expect("--json prints JSON");
    assert_eq!(event["id"], id.as_str());

    let one = vcgate_cli(&["get", "event", &id], &env);
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(
        text.contains("VM created") && text.contains("monitoring"),
        "{text}"
    );

    let status = vcgate_cli(&["get", "status"], &env);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("alarm-hook") && text.contains("ACCEPTED"),
        "{text}"
    );
    let status_json: Value =
        serde_json::from_slice(&vcgate_cli(&["get", "status", "--json"], &env).stdout).unwrap();
    assert_eq!(status_json["sources"]["api"]["accepted"], 1);

    let no_token = vcgate_cli(&["get", "events", "--server", &app.base_url], &[]);
    assert!(!no_token.status.success());
}

#[test]
fn check_config_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[http]\nlisten = \"127.0.0.1:1\"\nmax_bodyy = 5\n").unwrap();
    let out = vcgate_cli(&["check-config", bad.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("max_bodyy"));

    let public = dir.path().join("public.toml");
    std::fs::write(&public, "[http]\nlisten = \"0.0.0.0:8443\"\n").unwrap();
    let out = vcgate_cli(&["check-config", public.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http.ingest_tokens"));

    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/vcgate.example.toml");
    let out = vcgate_cli(&["check-config", example], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
