#!/usr/bin/env bash
# Installs limahost-agent as a systemd service: `make install-service`.
#
#   DESTDIR   a scratch root to install into (packaging, CI); then nothing that
#             needs the live system is done: no user, no chown, no systemctl.
#   PREFIX    /usr/local by default (binary, man page, completions).
#   AGENT_BIN a built binary to install; by default a release build is made.
#   CA_FILE   a private control-plane CA to add to the system trust store.
#   SERVICE_USER  limahost by default.
set -euo pipefail
cd "$(dirname "$0")/.."

root="${DESTDIR:-}"
prefix="${PREFIX:-/usr/local}"
user="${SERVICE_USER:-limahost}"
home="/var/lib/limahost"
say() { echo "install-service: $*"; }

bin="${AGENT_BIN:-}"
if [ -z "$bin" ]; then
    swift build -c release --product limahost-agent
    bin=".build/release/limahost-agent"
fi
[ -x "$bin" ] || { say "no executable at $bin"; exit 1; }

live=1
[ -n "$root" ] && live=0

# The user the agent (and so limactl and the VMs) runs as: Lima refuses root.
if [ "$live" = 1 ]; then
    if ! id -u "$user" >/dev/null 2>&1; then
        useradd --system --home-dir "$home" --create-home --shell /usr/sbin/nologin "$user"
        say "created user $user (home $home, where the VMs live: ~/.lima)"
    fi
    if getent group kvm >/dev/null; then usermod -a -G kvm "$user"; else say "no kvm group here: VMs will be slow"; fi
else
    say "DESTDIR set: not creating user $user"
fi

# dir MODE OWNER PATH: a directory with its mode and (on a live system) its owner.
dir() {
    install -d -m "$1" "$root$3"
    if [ "$live" = 1 ]; then chown "$2" "$root$3"; fi
}
dir 0755 root:root /etc/limahost
dir 0755 root:root /etc/limahost/templates
dir 0700 "$user:$user" /var/lib/limahost-agent
dir 0700 "$user:$user" /var/lib/limahost-agent/backups
dir 0700 "$user:$user" "$home"
dir 0750 "$user:$user" /var/log/limahost-agent

install -D -m 0755 "$bin" "$root$prefix/bin/limahost-agent"

# The configuration: never overwritten. The service user reads it (0640 root:user).
config="$root/etc/limahost/agent.json"
if [ -e "$config" ]; then
    say "keeping the existing $config"
else
    python3 - "$config" "$user" <<'PY'
import json, sys
path, user = sys.argv[1], sys.argv[2]
with open("config.template.json") as source:
    config = json.load(source)
config["limaUser"] = user                       # the service's own user
config["logFile"] = "/var/log/limahost-agent/agent.log"
with open(path, "w") as target:
    json.dump(config, target, indent=2)
    target.write("\n")
PY
    chmod 0640 "$config"
    if [ "$live" = 1 ]; then chown "root:$user" "$config"; fi
    say "installed $config: set controlPlaneUrl, agentId, and the key in /etc/limahost/api-key (0640 root:$user)"
fi
install -m 0644 deploy/templates/*.yaml "$root/etc/limahost/templates/"

# The unit, pointing at this PREFIX; logrotate.
install -d -m 0755 "$root/etc/systemd/system" "$root/etc/logrotate.d"
sed "s|/usr/local/bin/limahost-agent|$prefix/bin/limahost-agent|" deploy/limahost-agent.service \
    >"$root/etc/systemd/system/limahost-agent.service"
chmod 0644 "$root/etc/systemd/system/limahost-agent.service"
install -m 0644 deploy/limahost-agent.logrotate "$root/etc/logrotate.d/limahost-agent"

# The man page and completions, generated from the binary's own argument parser.
install -d -m 0755 "$root$prefix/share/man/man8" "$root$prefix/share/bash-completion/completions" \
    "$root$prefix/share/zsh/site-functions" "$root$prefix/share/fish/vendor_completions.d"
"$bin" --experimental-dump-help | python3 scripts/manpage.py >"$root$prefix/share/man/man8/limahost-agent.8"
"$bin" --generate-completion-script bash >"$root$prefix/share/bash-completion/completions/limahost-agent"
"$bin" --generate-completion-script zsh >"$root$prefix/share/zsh/site-functions/_limahost-agent"
"$bin" --generate-completion-script fish >"$root$prefix/share/fish/vendor_completions.d/limahost-agent.fish"

if [ -n "${CA_FILE:-}" ]; then
    if [ "$live" = 1 ]; then deploy/install-ca.sh "$CA_FILE"; else deploy/install-ca.sh --root "$root" "$CA_FILE"; fi
fi

if [ "$live" = 1 ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now limahost-agent.service
    say "enabled and started limahost-agent.service"
else
    say "not touching systemd (DESTDIR set, or systemd is not running)"
fi
