#!/usr/bin/env bash
# Removes what `make install-service` installed: `make uninstall-service`.
# The configuration, the state (journal, outbox, backups), the VMs and the logs
# are kept unless PURGE=1. DESTDIR and PREFIX as for install-service.
set -euo pipefail
cd "$(dirname "$0")/.."

root="${DESTDIR:-}"
prefix="${PREFIX:-/usr/local}"
user="${SERVICE_USER:-limahost}"
say() { echo "uninstall-service: $*"; }

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    # Stopping drains: running jobs finish and results are flushed first. VMs keep running.
    systemctl disable --now limahost-agent.service || true
fi
rm -f "$root/etc/systemd/system/limahost-agent.service" "$root/etc/logrotate.d/limahost-agent" \
    "$root$prefix/bin/limahost-agent" "$root$prefix/share/man/man8/limahost-agent.8" \
    "$root$prefix/share/bash-completion/completions/limahost-agent" \
    "$root$prefix/share/zsh/site-functions/_limahost-agent" \
    "$root$prefix/share/fish/vendor_completions.d/limahost-agent.fish"
if [ -z "$root" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
if [ -e "$root/usr/local/share/ca-certificates/limahost-control-plane.crt" ]; then
    if [ -z "$root" ]; then deploy/install-ca.sh --remove; else deploy/install-ca.sh --remove --root "$root"; fi
fi

if [ "${PURGE:-0}" = 1 ]; then
    rm -rf "$root/etc/limahost" "$root/var/lib/limahost-agent" "$root/var/lib/limahost" "$root/var/log/limahost-agent"
    if [ -z "$root" ] && id -u "$user" >/dev/null 2>&1; then userdel "$user" || true; fi
    say "purged the configuration, the state, the VMs' data and the logs"
else
    rm -f "$root"/etc/limahost/templates/*.yaml
    rmdir "$root/etc/limahost/templates" 2>/dev/null || true
    say "kept /etc/limahost/agent.json, /var/lib/limahost-agent, /var/lib/limahost (the VMs) and the logs (PURGE=1 removes them)"
fi
