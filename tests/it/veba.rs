//! VMware Event Broker Appliance compatibility end to end, against real
//! peers: govmomi (the goldens and the field table are its own output), the
//! CloudEvents Python SDK 1.x that VEBA's Python functions use (as sender of
//! binary and structured requests, and as the parser inside the functions),
//! VEBA-style Flask functions run as a `command` (through the example
//! adapter) and as a webhook, local receivers asserting headers and bodies,
//! and the vCenter simulator's event stream.
//!
//! Needs python3 with `flask` and `cloudevents<2` (scripts/test.sh installs
//! them); a missing one fails the test with that message.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::support::peers::vcsim::{connected, create_vm};
use crate::support::{INGEST_TOKEN, TestApp, TestConfig, Vcsim, alarm_body};

const WAIT: Duration = Duration::from_secs(30);

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The python3 that has Flask and the CloudEvents SDK 1.x, by absolute path
/// (command functions get a clean environment).
fn python() -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sys, flask; from cloudevents.http import from_http, to_binary; print(sys.executable)",
        ])
        .output()
        .expect("python3 (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "python3 lacks flask or cloudevents<2 (scripts/test.sh installs them: pip install flask 'cloudevents<2'): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// VEBA's test payload for its tagging function
/// (`examples/knative/powercli/kn-pcli-tag/test/test-payload.json`).
fn drs_payload(vm: &str) -> Value {
    json!({
        "Key": 2816789, "ChainId": 2816787, "CreatedTime": "2021-05-17T21:39:03.974Z",
        "UserName": "VSPHERE.LOCAL\\Administrator",
        "Datacenter": {"Name": "Primp-Datacenter", "Datacenter": {"Type": "Datacenter", "Value": "datacenter-3"}},
        "ComputeResource": {"Name": "Supermicro-Cluster", "ComputeResource": {"Type": "ClusterComputeResource", "Value": "domain-c8"}},
        "Host": {"Name": "192.168.30.5", "Host": {"Type": "HostSystem", "Value": "host-11"}},
        "Vm": {"Name": vm, "Vm": {"Type": "VirtualMachine", "Value": "vm-11099"}},
        "Ds": null, "Net": null, "Dvs": null,
        "FullFormattedMessage": format!("DRS powered on {vm} on 192.168.30.5 in Primp-Datacenter"),
        "ChangeTag": "", "Template": false
    })
}

/// A local HTTP receiver keeping every request per path.
#[derive(Clone, Default)]
struct Receiver {
    requests: Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>,
}

impl Receiver {
    async fn start() -> (Receiver, String) {
        let receiver = Receiver::default();
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/{name}",
            axum::routing::post(
                move |axum::extract::Path(name): axum::extract::Path<String>,
                      headers: HeaderMap,
                      body: Bytes| {
                    let state = state.clone();
                    async move {
                        state.requests.lock().unwrap().push((name, headers, body));
                        (StatusCode::OK, "{\"ok\":true}")
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    async fn wait(
        &self,
        app: &TestApp,
        path: &str,
        pred: impl Fn(&Bytes) -> bool,
    ) -> (HeaderMap, Bytes) {
        app.wait_for(&format!("a request to /{path}"), WAIT, || async {
            self.requests
                .lock()
                .unwrap()
                .iter()
                .find(|(p, _, b)| p == path && pred(b))
                .map(|(_, h, b)| (h.clone(), b.clone()))
        })
        .await
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name)
        .unwrap_or_else(|| panic!("no {name} header in {h:?}"))
        .to_str()
        .unwrap()
}

async fn runs(app: &TestApp, function: &str) -> Vec<Value> {
    app.get_json(&format!("/api/v1/runs?function={function}&limit=1000"))
        .await["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Waits for a succeeded run of `function` whose output satisfies `pred`.
async fn wait_run(app: &TestApp, function: &str, pred: impl Fn(&Value) -> bool) -> Value {
    app.wait_for(&format!("a succeeded run of {function}"), WAIT, || async {
        runs(app, function)
            .await
            .into_iter()
            .find(|r| r["status"] == "succeeded" && pred(&r["output"]))
    })
    .await
}

#[test]
fn veba_goldens_and_the_field_table_are_govmomis_own_output() {
    let build = Command::new("bash")
        .arg(repo("scripts/build-vcsim.sh"))
        .status()
        .expect("build-vcsim.sh");
    assert!(build.success(), "scripts/build-vcsim.sh failed");
    let vcsim = repo("tests/vcsim/bin/vcsim");
    let dir = repo("tests/fixtures/veba");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("xml") {
            continue;
        }
        let out = Command::new(&vcsim)
            .arg("-veba-json")
            .stdin(std::fs::File::open(&path).unwrap())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let govmomi: Value = serde_json::from_slice(&out.stdout).unwrap();
        let golden: Value =
            serde_json::from_str(&std::fs::read_to_string(path.with_extension("json")).unwrap())
                .unwrap();
        assert_eq!(govmomi, golden, "{} is not govmomi's JSON", path.display());
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} golden files");
    let out = Command::new(&vcsim)
        .args([
            "-veba-schema",
            "/usr/share/gocode/src/github.com/vmware/govmomi/vim25/types/types.go",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        std::fs::read_to_string(repo("src/veba/vim25.schema")).unwrap(),
        "src/veba/vim25.schema drifted from govmomi: regenerate it (see its header)"
    );
}

/// Sends CloudEvents with the CloudEvents Python SDK 1.x (what VEBA's
/// Python functions and test scripts use) and prints `status body` per request.
fn sdk_send(app: &TestApp, script: &str) -> Vec<(u16, Value)> {
    let prelude = r#"
import json, os, sys, urllib.request
from cloudevents.http import CloudEvent, to_binary, to_structured
def post(headers, body):
    headers = dict(headers)
    headers["Authorization"] = "Bearer " + os.environ["TOKEN"]
    req = urllib.request.Request(os.environ["URL"] + "/api/v1/events", data=body, headers=headers, method="POST")
    try:
        r = urllib.request.urlopen(req)
        print(r.status, r.read().decode())
    except urllib.error.HTTPError as e:
        print(e.code, e.read().decode())
"#;
    let out = Command::new(python())
        .args(["-c", &format!("{prelude}\n{script}")])
        .env("URL", &app.base_url)
        .env("TOKEN", INGEST_TOKEN)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (status, body) = l.split_once(' ').unwrap();
            (status.parse().unwrap(), serde_json::from_str(body).unwrap())
        })
        .collect()
}

#[tokio::test]
async fn cloudevents_in_binary_structured_and_batch_with_required_attributes() {
    let app = TestApp::spawn().await;
    let data = drs_payload("web 01");
    let answers = sdk_send(
        &app,
        &format!(
            r#"
data = json.loads({data:?})
attrs = {{"id": "veba-1", "source": "https://vcenter.local/sdk", "type": "com.vmware.vsphere.DrsVmPoweredOnEvent.v0",
          "subject": "DrsVmPoweredOnEvent", "eventclass": "event", "time": "2021-05-17T21:39:03.974Z",
          "datacontenttype": "application/json"}}
post(*to_binary(CloudEvent(attrs, data)))
post(*to_binary(CloudEvent(attrs, data)))
post(*to_structured(CloudEvent({{"id": "s-1", "source": "test", "type": "vm.deployed", "datacontenttype": "application/json"}}, {{"message": "deployed", "metadata": {{"vm_name": "web02"}}}})))
"#,
            data = data.to_string()
        ),
    );
    assert_eq!(answers[0].0, 202, "{answers:?}");
    assert_eq!(answers[1].0, 200, "the same id and source is one event");
    assert_eq!(answers[1].1["duplicate"], true);
    assert_eq!(answers[1].1["id"], answers[0].1["id"]);
    assert_eq!(answers[2].0, 202, "{answers:?}");

    let binary = app.event(answers[0].1["id"].as_str().unwrap()).await;
    assert_eq!(binary["type"], "drs.vm.powered.on");
    assert_eq!(binary["entity"]["name"], "web 01");
    assert_eq!(binary["entity"]["moref"], "vm-11099");
    assert_eq!(binary["user"], "VSPHERE.LOCAL\\Administrator");
    assert_eq!(binary["event_key"], 2816789);
    assert_eq!(binary["raw"]["data"], data, "the VEBA data is kept whole");
    assert_eq!(binary["raw"]["eventclass"], "event", "extensions are kept");
    let structured = app.event(answers[2].1["id"].as_str().unwrap()).await;
    assert_eq!(structured["type"], "vm.deployed");
    assert_eq!(structured["metadata"]["vm_name"], "web02");

    // Batch: every event answered; a repeat says so.
    let batch = json!([
        {"specversion": "1.0", "id": "b-1", "source": "batch", "type": "vm.created", "subject": "web03"},
        {"specversion": "1.0", "id": "veba-1", "source": "https://vcenter.local/sdk",
         "type": "com.vmware.vsphere.DrsVmPoweredOnEvent.v0", "data": data},
    ]);
    let client = reqwest::Client::new();
    let post = |content_type: &str, body: String, extra: &[(&str, &str)]| {
        let mut r = client
            .post(format!("{}/api/v1/events", app.base_url))
            .bearer_auth(INGEST_TOKEN)
            .header("content-type", content_type)
            .body(body);
        for (k, v) in extra {
            r = r.header(*k, *v);
        }
        r.send()
    };
    let r = post("application/cloudevents-batch+json", batch.to_string(), &[])
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["events"].as_array().unwrap().len(), 2, "{body}");
    assert!(body["events"][0]["duplicate"].is_null(), "{body}");
    assert_eq!(body["events"][1]["duplicate"], true, "{body}");
    assert_eq!(body["events"][1]["id"], answers[0].1["id"]);
    let stored = app.events("limit=100").await.len();
    assert_eq!(stored, 3);

    // A missing required attribute is named, in every mode; nothing is stored.
    let binary_headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", "m-1"),
        ("ce-type", "vm.created"),
    ];
    let bad_batch = json!([
        {"specversion": "1.0", "id": "b-2", "source": "batch", "type": "vm.created"},
        {"specversion": "1.0", "id": "b-3", "source": "batch"},
    ]);
    // (content type, body, ce-* headers, the detail expected)
    type Refused<'a> = (&'a str, String, &'a [(&'a str, &'a str)], &'a str);
    let refused: [Refused; 3] = [
        (
            "application/json",
            "{}".into(),
            &binary_headers,
            "missing required attribute `source`",
        ),
        (
            "application/cloudevents+json",
            json!({"specversion": "1.0", "source": "s", "type": "vm.created"}).to_string(),
            &[],
            "missing required attribute `id`",
        ),
        (
            "application/cloudevents-batch+json",
            bad_batch.to_string(),
            &[],
            "event 1: missing required attribute `type`",
        ),
    ];
    for (content_type, body, extra, detail) in refused {
        let r = post(content_type, body, extra).await.unwrap();
        assert_eq!(r.status(), 400, "{content_type}");
        assert_eq!(r.json::<Value>().await.unwrap()["detail"], detail);
    }
    let r = post("text/xml", "<x/>".into(), &[]).await.unwrap();
    assert_eq!(r.status(), 415);
    assert_eq!(
        app.events("limit=100").await.len(),
        stored,
        "a refused batch stores nothing"
    );
    assert_eq!(app.rejected("api", "bad_request").await, 3);
    assert_eq!(app.rejected("api", "unsupported_media_type").await, 1);
}

#[tokio::test]
async fn cloudevents_out_binary_and_structured_to_a_local_receiver() {
    let (receiver, url) = Receiver::start().await;
    let app = TestApp::spawn_config(TestConfig {
        extra: format!(
            r#"[[route]]
type = "drs.*"
to = "both"

[[monitoring.webhook]]
name = "veba-binary"
url = "{url}/forward"
format = "cloudevents"
event_format = "veba"
encoding = "binary"

[[function]]
name = "veba-binary"
kind = "webhook"
url = "{url}/veba"
event_format = "veba"
encoding = "binary"

[[function]]
name = "vcgate-structured"
kind = "webhook"
url = "{url}/vcgate"

[[subscription]]
name = "drs-veba"
event_type = "com.vmware.vsphere.DrsVmPoweredOnEvent.v0"
function = "veba-binary"

[[subscription]]
name = "drs-vcgate"
event_type = "drs.vm.powered.on"
function = "vcgate-structured"
"#
        ),
        ..TestConfig::default()
    })
    .await;
    let data = drs_payload("web04");
    let r = app
        .post_json(
            "/api/v1/events",
            &json!({"specversion": "1.0", "id": "out-1", "source": "https://vc1.example.com/sdk",
                    "type": "com.vmware.vsphere.DrsVmPoweredOnEvent.v0", "eventclass": "event", "data": data}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Binary mode, VEBA's shape: attributes in ce-* headers, the data as body.
    for path in ["veba", "forward"] {
        let (h, body) = receiver.wait(&app, path, |_| true).await;
        assert_eq!(header(&h, "ce-specversion"), "1.0");
        assert_eq!(header(&h, "ce-id"), id);
        assert_eq!(
            header(&h, "ce-type"),
            "com.vmware.vsphere.DrsVmPoweredOnEvent.v0"
        );
        assert_eq!(header(&h, "ce-source"), "https://vc1.example.com/sdk");
        assert_eq!(header(&h, "ce-subject"), "DrsVmPoweredOnEvent");
        assert_eq!(header(&h, "ce-eventclass"), "event");
        assert!(header(&h, "ce-time").starts_with("2021-05-17T21:39:03.974"));
        assert_eq!(header(&h, "content-type"), "application/json");
        assert!(h.get("ce-datacontenttype").is_none() && h.get("ce-data").is_none());
        assert_eq!(
            serde_json::from_slice::<Value>(&body).unwrap(),
            data,
            "{path}"
        );
    }
    let functions = app.get_json("/api/v1/functions").await;
    let veba_fn = &functions["functions"][0];
    assert_eq!(veba_fn["name"], "veba-binary");
    assert_eq!(
        (&veba_fn["event_format"], &veba_fn["encoding"]),
        (&json!("veba"), &json!("binary"))
    );
    // Structured mode, vcgate's shape.
    let (h, body) = receiver.wait(&app, "vcgate", |_| true).await;
    assert_eq!(header(&h, "content-type"), "application/cloudevents+json");
    assert!(h.get("ce-id").is_none());
    let ce: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(ce["type"], "drs.vm.powered.on");
    assert_eq!(ce["id"], id.as_str());
    assert_eq!(ce["data"]["entity"]["name"], "web04");

    // A hook alarm reaches the VEBA forwarder as an AlarmStatusChangedEvent.
    app.post_json(
        "/api/v1/alarms",
        &alarm_body("veba-alarm-1", "Host connection state", "esx01", "Red"),
    )
    .send()
    .await
    .unwrap();
    let (h, body) = receiver
        .wait(&app, "forward", |b| {
            String::from_utf8_lossy(b).contains("Host connection state")
        })
        .await;
    assert_eq!(
        header(&h, "ce-type"),
        "com.vmware.vsphere.AlarmStatusChangedEvent.v0"
    );
    assert_eq!(
        header(&h, "ce-source"),
        "https://vc1/sdk",
        "no url configured: the vCenter name"
    );
    let alarm: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(alarm["Alarm"]["Name"], "Host connection state");
    assert_eq!(alarm["Entity"]["Name"], "esx01");
    assert_eq!(alarm["To"], "red");
    for key in [
        "Key",
        "ChainId",
        "CreatedTime",
        "UserName",
        "Ds",
        "Net",
        "Dvs",
        "ChangeTag",
        "Source",
        "From",
    ] {
        assert!(alarm.get(key).is_some(), "{key} missing in {alarm}");
    }
}

/// A VEBA-style Flask function served over HTTP, as Knative serves one.
struct FlaskFunction {
    child: Child,
    url: String,
}

impl FlaskFunction {
    fn start() -> FlaskFunction {
        let mut child = Command::new(python())
            .arg(repo("examples/veba/handler.py"))
            .env("PORT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 handler.py");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(at) = line.find("Running on http://") {
                    let _ = tx.send(line[at + "Running on ".len()..].trim().to_owned());
                    sent = true;
                }
            }
        });
        let url = rx
            .recv_timeout(WAIT)
            .expect("the Flask function did not say where it listens");
        FlaskFunction { child, url }
    }
}

impl Drop for FlaskFunction {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_veba_function_runs_unchanged_as_a_webhook() {
    let function = FlaskFunction::start();
    let app = TestApp::spawn_config(TestConfig {
        extra: format!(
            r#"[[route]]
source = "api"
to = "automation"

[[function]]
name = "kn-py-vm-attr"
kind = "webhook"
url = "{}/"
event_format = "veba"
encoding = "binary"

[[subscription]]
name = "drs-powered-on"
event_type = "com.vmware.vsphere.DrsVmPoweredOnEvent.v0"
function = "kn-py-vm-attr"
"#,
            function.url
        ),
        ..TestConfig::default()
    })
    .await;
    // Exactly VEBA's test script (send-cloudevent-test.sh): curl, binary mode.
    let payload = drs_payload("REPLACE-ME").to_string();
    let out = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-d",
            &payload,
            "-H",
            "Content-Type: application/json",
            "-H",
            "ce-specversion: 1.0",
            "-H",
            "ce-id: d70079f9-fddd-4b7f-aa76-1193f28b0611",
            "-H",
            "ce-source: https://vcenter.local/sdk",
            "-H",
            "ce-type: com.vmware.vsphere.DrsVmPoweredOnEvent.v0",
            "-H",
            &format!("Authorization: Bearer {INGEST_TOKEN}"),
            "-X",
            "POST",
            &format!("{}/api/v1/events", app.base_url),
        ])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "202");
    let run = wait_run(&app, "kn-py-vm-attr", |o| o["vm"] == "REPLACE-ME").await;
    let output = &run["output"];
    assert_eq!(output["type"], "com.vmware.vsphere.DrsVmPoweredOnEvent.v0");
    assert_eq!(output["source"], "https://vcenter.local/sdk");
    assert_eq!(output["vm_id"], "vm-11099");
    assert_eq!(output["host"], "192.168.30.5");
    assert_eq!(output["user"], "VSPHERE.LOCAL\\Administrator");
    assert_eq!(output["subject"], "DrsVmPoweredOnEvent");
    assert_eq!(output["eventclass"], "event");
    assert_eq!(output["key"], 2816789);
}

#[tokio::test]
async fn a_veba_function_sees_a_vm_powered_on_in_the_simulator() {
    let sim = Vcsim::start();
    let client = connected(&sim).await;
    let adapter = repo("examples/veba/vcgate-veba-adapter.py");
    let handler = repo("examples/veba/handler.py");
    let app = TestApp::spawn_config(TestConfig {
        extra: format!(
            r#"[[vcenter]]
name = "vc1"
url = "{url}"
username = "vcsim-user"
password = "vcsim-pass"
timeout = "3s"
events = true
events_poll = "200ms"

[[route]]
source = "vcenter-events"
to = "automation"

[[function]]
name = "veba-vm-powered-on"
kind = "command"
command = ["{python}", "{adapter}", "{handler}"]
timeout = "30s"

[[subscription]]
name = "vm-powered-on"
event_type = "com.vmware.vsphere.VmPoweredOnEvent.v0"
function = "veba-vm-powered-on"
event_format = "veba"
"#,
            url = sim.url,
            python = python(),
            adapter = adapter.display(),
            handler = handler.display(),
        ),
        ..TestConfig::default()
    })
    .await;
    let vm = create_vm(&client, "veba-web-01").await;
    let body = vcgate::vsphere::soap::Body::new("PowerOnVM_Task", &vm);
    let task = client
        .invoke(body)
        .await
        .unwrap()
        .child("returnval")
        .and_then(|t| t.as_moref())
        .expect("task");
    client.wait_for_task(&task, WAIT).await.unwrap();

    let run = wait_run(&app, "veba-vm-powered-on", |o| o["vm"] == "veba-web-01").await;
    let output = &run["output"];
    assert_eq!(output["type"], "com.vmware.vsphere.VmPoweredOnEvent.v0");
    assert_eq!(output["vm_id"], vm.value.as_str());
    assert_eq!(
        output["source"],
        sim.url.as_str(),
        "source is the vCenter SDK URL"
    );
    assert_eq!(output["subject"], "VmPoweredOnEvent");
    assert!(
        output["host"]
            .as_str()
            .is_some_and(|h| h.starts_with("DC0_")),
        "{output}"
    );
    assert!(output["key"].as_i64().is_some_and(|k| k > 0), "{output}");
    assert!(
        output["message"].as_str().unwrap().contains("veba-web-01"),
        "{output}"
    );
    // The function got the whole vCenter event as VEBA sent it.
    let input = &run["input"];
    assert_eq!(
        input["context"]["event"]["data"]["Vm"]["Name"],
        "veba-web-01"
    );
    assert_eq!(input["context"]["event"]["data"]["Template"], false);
    assert_eq!(input["payload"], input["context"]["event"]["data"]);
    // Only power-on events reached it (the VM's creation did not), each run
    // green once it has ended (a later power-on's run may still be going).
    app.wait_processed().await;
    let ended = app
        .wait_for("every run of the function to end", WAIT, || async {
            let all = runs(&app, "veba-vm-powered-on").await;
            all.iter()
                .all(|r| !matches!(r["status"].as_str(), Some("queued" | "running")))
                .then_some(all)
        })
        .await;
    for r in ended {
        assert_eq!(r["status"], "succeeded", "{r}");
        assert_eq!(
            r["output"]["type"], "com.vmware.vsphere.VmPoweredOnEvent.v0",
            "{r}"
        );
    }
}
