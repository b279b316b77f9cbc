#!/usr/bin/env bash
# make demo: the agent's main job end to end, over real HTTP on loopback.
# Starts the reference control plane (development only), enqueues a realistic
# sample, runs `limahost-agent --drain` against it, prints each job's result,
# and stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(swift build --show-bin-path)
work=$(mktemp -d /tmp/limahost-demo.XXXXXX)
chmod 755 "$work"
user=${LIMAHOST_DEV_USER:-limahost-dev}
key="demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
refcp_pid=""

as_user() {
    if [ "$(id -u)" = "0" ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

cleanup() {
    # Stop any VM the demo left behind (the stand-in's host agents outlive limactl, as Lima's do).
    if [ -n "${limactl:-}" ] && [ -d "$work/lima" ]; then
        for dir in "$work"/lima/*/; do
            [ -f "$dir/lima.yaml" ] || continue
            as_user env LIMA_HOME="$work/lima" "$limactl" --tty=false delete -f "$(basename "$dir")" >/dev/null 2>&1 || true
        done
    fi
    [ -n "$refcp_pid" ] && kill "$refcp_pid" 2>/dev/null && wait "$refcp_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/templates" "$work/lima" "$work/state" "$work/bin"
cp deploy/templates/*.yaml "$work/templates/"
if [ "$(id -u)" = "0" ]; then chown "$user" "$work/lima"; fi

# The real limactl when it is on PATH and runs for the unprivileged user; otherwise the stand-in.
if command -v limactl >/dev/null 2>&1 && as_user limactl --version >/dev/null 2>&1; then
    limactl=$(command -v limactl)
    echo "demo: using the real limactl at $limactl ($(as_user limactl --version))"
else
    cp "$bin/limactl-standin" "$work/bin/limactl"
    chmod 755 "$work/bin/limactl"
    limactl="$work/bin/limactl"
    echo "demo: no usable limactl on PATH; using the compiled stand-in (faithful to Lima v2.2's CLI contract)"
fi

"$bin/limahost-refcp" --port 0 --port-file "$work/port" --api-key "$key" --lease-ms 120000 >"$work/refcp.log" 2>&1 &
refcp_pid=$!
for _ in $(seq 1 100); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "demo: the reference control plane did not start"; cat "$work/refcp.log"; exit 1; }
port=$(cat "$work/port")
url="http://127.0.0.1:$port"
echo "demo: reference control plane on $url"

# One job at a time, so the table reads as a story: list_vms needs no VM and would
# otherwise run beside the stop before it and could catch the VM halfway (Broken).
cat >"$work/agent.json" <<JSON
{
  "controlPlaneUrl": "$url",
  "agentId": "demo-agent",
  "agentName": "demo host",
  "vmDataDir": "$work/lima",
  "limactlPath": "$limactl",
  "limaUser": $( [ "$(id -u)" = "0" ] && echo "\"$user\"" || echo null ),
  "templatesDir": "$work/templates",
  "stateDir": "$work/state",
  "backupDir": "$work/state/backups",
  "maxConcurrentOperations": 1,
  "heartbeatInterval": 5000
}
JSON

python3 scripts/demo_client.py enqueue "$url" "$key" <<'JOBS'
[
  {"id": "demo-1-create", "type": "create_vm", "vmName": "demo-web", "template": "webapp",
   "config": {"cpus": 2, "memory": 2, "disk": 20}},
  {"id": "demo-2-uname", "type": "execute_command", "vmName": "demo-web", "command": "uname -sm && echo hello from the guest"},
  {"id": "demo-3-argv", "type": "execute_command", "vmName": "demo-web",
   "argv": ["sh", "-c", "echo $GREETING from $(pwd)"], "env": {"GREETING": "hi"}, "workdir": "/tmp"},
  {"id": "demo-4-info", "type": "get_vm_info", "vmName": "demo-web"},
  {"id": "demo-5-stop", "type": "stop_vm", "vmName": "demo-web"},
  {"id": "demo-6-list", "type": "list_vms"},
  {"id": "demo-7-delete", "type": "delete_vm", "vmName": "demo-web"}
]
JOBS

echo "demo: running limahost-agent --drain"
set +e
LIMAHOST_API_KEY="$key" "$bin/limahost-agent" --drain --config "$work/agent.json" 2>"$work/agent.log"
status=$?
set -e
echo "demo: limahost-agent exited $status"
python3 scripts/demo_client.py table "$url" "$key"
if [ "$status" != "0" ]; then
    echo "demo: agent log:"; cat "$work/agent.log"
fi
exit "$status"
