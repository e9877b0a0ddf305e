#!/usr/bin/env python3
"""Runs a VEBA-style Flask function as a vcgate `command` function.

    command = ["python3", "/usr/share/vcgate/examples/veba/vcgate-veba-adapter.py",
               "/opt/functions/kn-py-vm-attr/handler.py"]
    event_format = "veba"

vcgate writes {"context": {"event": <CloudEvent>, "secrets": {...}, "run_id": ...},
"payload": ...} on stdin; with event_format = "veba" the CloudEvent is the one
VEBA sent. The adapter hands it to the function's Flask app as the binary-mode
HTTP request VEBA's broker made (ce-* headers, the data as body), in process
(Flask's test client: no port, no server), then prints the response body as
the last line of stdout (vcgate keeps it as the run's output when it is JSON)
and exits non-zero when the function answered 4xx/5xx, so vcgate retries it.

Secrets: each name of context.secrets is put in the environment as well
(VEBA functions read theirs from environment variables), before the function's
module is loaded. The function file is loaded as a module named `handler`;
its Flask object must be called `app` (as in every VEBA Python example).
"""
import importlib.util
import json
import os
import sys
import urllib.parse


def binary_request(ce):
    """The CloudEvents HTTP binding's binary mode: attributes as ce-* headers
    (percent-encoded), data as the body, datacontenttype as Content-Type."""
    headers = {}
    for name, value in ce.items():
        if name in ("data", "data_base64", "datacontenttype"):
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        headers["ce-" + name] = urllib.parse.quote(text, safe="!#$&'()*+,/:;<=>?@[]^_`{|}~-.")
    headers["Content-Type"] = ce.get("datacontenttype", "application/json")
    body = json.dumps(ce.get("data")).encode() if ce.get("data") is not None else b""
    return headers, body


def main():
    if len(sys.argv) != 2:
        print("usage: vcgate-veba-adapter.py FUNCTION.py", file=sys.stderr)
        return 2
    run = json.load(sys.stdin)
    context = run.get("context", {})
    for name, value in (context.get("secrets") or {}).items():
        os.environ[name] = value
    path = os.path.abspath(sys.argv[1])
    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location("handler", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    headers, body = binary_request(context["event"])
    response = module.app.test_client().post("/", headers=headers, data=body)
    text = response.get_data(as_text=True).strip()
    print(text.replace("\n", " "))
    if response.status_code >= 400:
        print(f"function answered HTTP {response.status_code}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
