#!/usr/bin/env python3
"""The HTTP API from a cloud service that is not .NET: standard library only (urllib, json).

Creates two hosts and a VM, requests a live migration (with an Idempotency-Key, sent twice), follows the migration's
server-sent events to the end, and checks that the VM now runs on the destination host. Reads OMIG_API_URL
(e.g. http://127.0.0.1:8080/) and OMIG_API_KEY (an operator key). Exits 0 and prints "ok" when everything held;
exits 1 with the reason otherwise. Every request has a timeout; the event stream is read for at most 120 s.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid

BASE = os.environ["OMIG_API_URL"].rstrip("/")
KEY = os.environ["OMIG_API_KEY"]


def call(method, path, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + KEY)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode("utf-8")
            return response.status, dict(response.headers), (json.loads(text) if text else None)
    except urllib.error.HTTPError as error:
        text = error.read().decode("utf-8")
        return error.code, dict(error.headers), (json.loads(text) if text else None)


def expect(condition, message):
    if not condition:
        print("FAILED: " + message, file=sys.stderr)
        sys.exit(1)


def main():
    suffix = uuid.uuid4().hex[:8]
    src, dst, vm = "py-src-" + suffix, "py-dst-" + suffix, "py-vm-" + suffix
    for host in (src, dst):
        status, _, body = call("POST", "/v1/hosts", {"host_id": host, "cores": 16, "memory_mib": 32768})
        expect(status == 201, "create host %s: %s %s" % (host, status, body))

    status, _, body = call("POST", "/v1/vms", {"vm_id": vm, "host_id": src, "vcpus": 2, "memory_mib": 512,
                                               "nics": [{"vpc_id": "vpc-py", "ip": "10.77.0.2"}]})
    expect(status == 201, "create vm: %s %s" % (status, body))

    # A bad request is a problem with our code and the field, and changes nothing.
    status, headers, body = call("POST", "/v1/migrations", {"vm_id": vm, "destination": dst})
    expect(status == 400 and body["code"] == "invalid_argument" and body["field"] == "destination",
           "unknown field: %s %s" % (status, body))

    idem = {"Idempotency-Key": "py-" + suffix}
    status, headers, body = call("POST", "/v1/migrations", {"vm_id": vm, "destination_host": dst}, idem)
    expect(status == 202, "migrate: %s %s" % (status, body))
    location = headers.get("Location")
    expect(location == "/v1/migrations/" + body["migration_id"], "Location: %s" % location)
    status, headers, again = call("POST", "/v1/migrations", {"vm_id": vm, "destination_host": dst}, idem)
    expect(status == 202 and again["migration_id"] == body["migration_id"], "idempotent retry: %s %s" % (status, again))

    request = urllib.request.Request(BASE + location + "/events")
    request.add_header("Authorization", "Bearer " + KEY)
    request.add_header("Accept", "text/event-stream")
    last_status, ended, ids = None, False, []
    deadline = time.monotonic() + 120
    with urllib.request.urlopen(request, timeout=60) as stream:
        event = None
        for raw in stream:
            expect(time.monotonic() < deadline, "event stream did not end within 120 s")
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith("id: "):
                ids.append(int(line[4:]))
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                if event == "status":
                    last_status = json.loads(line[6:])
                elif event == "end":
                    ended = True
                    break
                elif event == "error":
                    expect(False, "error event: " + line[6:])

    expect(ended, "the stream closed without an end event")
    expect(ids == list(range(1, len(ids) + 1)), "event ids: %s" % ids)
    expect(last_status is not None and last_status["phase"] == "completed", "last status: %s" % last_status)

    status, _, record = call("GET", "/v1/vms/" + vm)
    expect(status == 200 and record["host_id"] == dst, "vm after migration: %s %s" % (status, record))
    print("ok: %s moved %s -> %s in %d events" % (vm, src, dst, len(ids)))


if __name__ == "__main__":
    main()
