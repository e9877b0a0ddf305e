#!/usr/bin/env python3
"""vcgate command function: the seed's "set VM attributes" flow.

Input (stdin), the same contract as Dispatch's handle($context, $payload):
  {"context": {"secrets": {...}, "event": <CloudEvent>, "run_id": "..."},
   "payload": {"category", "message", "metadata", "time", "entity", "user", ...}}

It works out who created the VM and when (vcgate has already enriched the
event from vCenter: `user`, `time`, `metadata.vm_id`, `metadata.src_template`),
logs what it decided, and prints one JSON line as the run's output.

To write the attributes into vCenter, use the built-in `set-created-by`
function (see vcgate.toml here); this script is the place for your own
site-specific steps (CMDB, tags, notifications).
"""
import json
import sys


def main() -> int:
    data = json.load(sys.stdin)
    context, payload = data["context"], data["payload"]
    event = context["event"]
    metadata = payload.get("metadata") or {}
    vm = metadata.get("vm_name") or (payload.get("entity") or {}).get("name")
    if not vm:
        print(f"event {event['id']} ({event['type']}) names no VM", file=sys.stderr)
        return 2
    created_by = payload.get("user") or "unknown"
    created_on = payload.get("time")
    print(f"{event['type']}: {vm} created by {created_by} on {created_on}")
    if metadata.get("src_template"):
        print(f"deployed from template {metadata['src_template']}")
    print(json.dumps({"vm": vm, "vm_id": metadata.get("vm_id"), "created_by": created_by,
                      "created_on": created_on, "run_id": context["run_id"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
