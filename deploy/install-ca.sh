#!/usr/bin/env bash
# Installs (or removes) the control plane's private CA in the system trust store.
#
# On Linux the agent's HTTP client (URLSession over libcurl) trusts only the system
# store, /etc/ssl/certs: CURL_CA_BUNDLE, SSL_CERT_FILE and the like have no effect.
# So a control plane whose certificate comes from a private CA needs that CA here.
#
#   install-ca.sh [--root DIR] CA_FILE     install CA_FILE (a PEM certificate)
#   install-ca.sh --remove [--root DIR]    remove it again
#
# With --root DIR everything happens under DIR (a scratch root, or DESTDIR when
# packaging): the real system is not touched, and DIR/etc/ssl/certs ends up holding
# the system's CAs plus this one (ca-certificates.crt and the hashed links). Its links
# point into DIR, so DIR/etc/ssl/certs works as a store where it is (the tests bind-mount
# it over /etc/ssl/certs in a private mount namespace). A package ships
# usr/local/share/ca-certificates/limahost-control-plane.crt from DIR and runs
# update-ca-certificates when installed.
set -euo pipefail

readonly NAME=limahost-control-plane.crt
# update-ca-certificates lives in /usr/sbin, which a non-login PATH may lack.
export PATH="${PATH:-/usr/bin:/bin}:/usr/local/sbin:/usr/sbin:/sbin"
readonly PROG=${0##*/}

usage() {
    cat <<EOF
usage: $PROG [--root DIR] CA_FILE
       $PROG --remove [--root DIR]

Installs CA_FILE (a PEM certificate: the CA that signed the control plane's
certificate) as /usr/local/share/ca-certificates/$NAME and runs
update-ca-certificates, so limahost-agent trusts the control plane.
--remove takes it out again.

  --root DIR   work under DIR instead of / (a scratch root or DESTDIR); the
               system's trust store is left alone
  --remove     remove the CA installed earlier
  -h, --help   show this help
EOF
}

die() {
    echo "$PROG: $*" >&2
    exit 1
}

usage_error() {
    echo "$PROG: $*" >&2
    echo "Try '$PROG --help'." >&2
    exit 2
}

root=""
remove=0
ca_file=""
while [ $# -gt 0 ]; do
    case $1 in
        --root)
            [ -n "${2:-}" ] || usage_error "--root needs a directory"
            root=$2
            shift 2
            ;;
        --root=*)
            root=${1#--root=}
            [ -n "$root" ] || usage_error "--root needs a directory"
            shift
            ;;
        --remove)
            remove=1
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        --)
            shift
            break
            ;;
        -*)
            usage_error "unknown option: $1"
            ;;
        *)
            [ -z "$ca_file" ] || usage_error "one CA_FILE only (got '$ca_file' and '$1')"
            ca_file=$1
            shift
            ;;
    esac
done
for extra in "$@"; do
    [ -z "$ca_file" ] || usage_error "one CA_FILE only (got '$ca_file' and '$extra')"
    ca_file=$extra
done

if [ "$remove" = 1 ]; then
    [ -z "$ca_file" ] || usage_error "--remove takes no CA_FILE"
else
    [ -n "$ca_file" ] || usage_error "missing CA_FILE (the PEM certificate of the control plane's CA)"
fi

command -v update-ca-certificates >/dev/null 2>&1 ||
    die "update-ca-certificates not found: install the ca-certificates package"
command -v openssl >/dev/null 2>&1 || die "openssl not found: install the openssl package"

# Refuses anything but a PEM certificate, before anything is changed.
validate_ca_file() {
    [ -f "$ca_file" ] || die "$ca_file: no such file"
    [ -r "$ca_file" ] || die "$ca_file: cannot read it"
    if ! subject=$(openssl x509 -inform PEM -in "$ca_file" -noout -subject 2>/dev/null); then
        die "$ca_file is not a PEM certificate (expected -----BEGIN CERTIFICATE-----; convert DER with: openssl x509 -inform DER -in FILE -out ca.crt)"
    fi
    # The file becomes world-readable: never copy a private key along.
    if grep -q -- 'PRIVATE KEY-----' "$ca_file"; then
        die "$ca_file contains a private key: give the CA's certificate only"
    fi
    count=$(grep -c -- '-----BEGIN CERTIFICATE-----' "$ca_file" || true)
    if [ "$count" -gt 1 ]; then
        echo "$PROG: warning: $ca_file holds $count certificates: all go into ca-certificates.crt," \
            "but openssl rehash links files of one certificate only" >&2
    fi
    if ! openssl x509 -inform PEM -in "$ca_file" -noout -ext basicConstraints 2>/dev/null | grep -q 'CA:TRUE'; then
        echo "$PROG: warning: $ca_file is not marked as a CA (basicConstraints CA:TRUE); it is trusted as given" >&2
    fi
}

[ "$remove" = 1 ] || validate_ca_file

if [ -n "$root" ]; then
    mkdir -p -- "$root" || die "cannot create --root directory $root"
    root=$(cd -- "$root" && pwd -P)
    # update-ca-certificates does not follow DESTDIR: point every directory it writes
    # at the scratch root. It reads the distribution's CAs from the real system
    # (read only) and runs the hooks of the scratch root only (none, usually), so
    # nothing outside DIR changes.
    local_dir=$root/usr/local/share/ca-certificates
    etc_certs=$root/etc/ssl/certs
    mkdir -p -- "$local_dir" "$etc_certs"
    update=(update-ca-certificates --fresh
        --certsconf /etc/ca-certificates.conf
        --certsdir /usr/share/ca-certificates
        --localcertsdir "$local_dir"
        --etccertsdir "$etc_certs"
        --hooksdir "$root/etc/ca-certificates/update.d")
    # Without a configuration update-ca-certificates would add no distribution CA.
    [ -s /etc/ca-certificates.conf ] || update+=(--default)
else
    [ "$(id -u)" = 0 ] || die "the system trust store needs root: run with sudo (or use --root DIR)"
    local_dir=/usr/local/share/ca-certificates
    etc_certs=/etc/ssl/certs
    update=(update-ca-certificates)
fi
target=$local_dir/$NAME
# The links of a removed or replaced certificate go (and a replacement's hash link is
# made) only with --fresh.
if [ -e "$target" ] && [[ ! " ${update[*]} " =~ " --fresh " ]]; then
    update+=(--fresh)
fi

run_update() {
    local output
    if ! output=$("${update[@]}" 2>&1); then
        printf '%s\n' "$output" >&2
        die "update-ca-certificates failed"
    fi
}

if [ "$remove" = 1 ]; then
    if [ ! -e "$target" ]; then
        echo "$PROG: $target is not installed; nothing to remove"
        exit 0
    fi
    rm -f -- "$target"
    run_update
    echo "$PROG: removed $target; $etc_certs/ca-certificates.crt no longer holds it"
    exit 0
fi

install -D -m 0644 -- "$ca_file" "$target"
run_update
bundle=$etc_certs/ca-certificates.crt
first_line=$(sed -n '/-----BEGIN CERTIFICATE-----/{n;p;q;}' "$ca_file")
if [ ! -L "$etc_certs/${NAME%.crt}.pem" ] || ! grep -qF -- "$first_line" "$bundle"; then
    die "update-ca-certificates ran, but $bundle does not hold $ca_file"
fi
echo "$PROG: installed $target ($subject); $bundle now trusts it"
