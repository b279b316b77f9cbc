#!/usr/bin/env python3
"""Talks to the reference control plane's admin API for `make demo`:
enqueue jobs from stdin, or print every job's result as a table."""
import json
import sys
import urllib.request


def call(url, key, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method=method)
    request.add_header("Authorization", "Bearer " + key)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def table(url, key):
    jobs = call(url, key, "GET", "/admin/jobs")["jobs"]
    rows = [("job", "type", "state", "status", "ms", "detail")]
    for job in jobs:
        result = job.get("result") or {}
        detail = ""
        if result.get("error"):
            detail = "%s: %s" % (result["error"]["code"], result["error"]["message"])
        elif "stdout" in result and result.get("stdout"):
            detail = result["stdout"].strip().replace("\n", " | ")
        elif isinstance(result.get("data"), dict):
            data = result["data"]
            if "vms" in data:
                detail = "vms: " + (", ".join("%s (%s)" % (v["name"], v["status"]) for v in data["vms"]) or "none")
            elif "status" in data:
                detail = "%s %s, %d cpus, %d GiB" % (data.get("name"), data.get("status"), data.get("cpus", 0),
                                                     data.get("memoryBytes", 0) >> 30)
            else:
                detail = json.dumps(data)
        rows.append((job["id"], job["job"].get("type", "?"), job["state"], result.get("status", "-"),
                     str(result.get("duration", "")), detail[:70]))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5])


if __name__ == "__main__":
    command, url, key = sys.argv[1], sys.argv[2], sys.argv[3]
    if command == "enqueue":
        ids = call(url, key, "POST", "/admin/jobs", json.load(sys.stdin))["ids"]
        print("demo: enqueued %d jobs" % len(ids))
    else:
        table(url, key)
