#!/usr/bin/env bash
# Make the certificates for OrleansMigrate's mutual TLS: a private CA, and one certificate per silo or client
# name, issued by it. Silos and clients accept a peer only when its certificate chains to this CA.
#
# Usage: deploy/tls/make-certs.sh [options] OUTDIR [NAMES...]      (NAMES default: silo client)
#   --days N        validity of the silo/client certificates in days   [825]
#   --ca-days N     validity of a new CA in days                       [3650]
#   --san ENTRY     an extra subjectAltName on every certificate made, e.g. IP:10.0.0.5 or DNS:ctl-1.internal
#                   (repeatable; every certificate always has DNS:NAME, DNS:localhost and IP:127.0.0.1)
#   --help          this text
# The PKCS#12 password is taken from $OMIG_TLS_PASSWORD (empty when unset): never from the command line.
#
# Writes into OUTDIR (created 0700):
#   ca.pem            the CA certificate: give it to every silo (--tls-ca) and client (omig --tls-ca)
#   ca.key            the CA's private key (0600): keep it off the cluster machines once the certificates exist
#   NAME.pem NAME.key the certificate and its private key (0600), PEM
#   NAME.pfx          the same as PKCS#12 with the CA certificate (0600): omig-silo --tls-cert NAME.pfx
# An existing OUTDIR/ca.pem + ca.key is reused, so running it again with new names adds certificates signed by
# the same CA; an existing NAME.* is replaced (a renewal). See deploy/tls/README.md.
set -Eeuo pipefail

die() { printf 'make-certs: ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf 'make-certs: %s\n' "$*" >&2; }
usage() { sed -n '2,/^set -E/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

days=825
ca_days=3650
sans=()
args=()
while (($#)); do
    case "$1" in
        --days) [[ $# -ge 2 ]] || die "--days needs a value"; days=$2; shift 2 ;;
        --ca-days) [[ $# -ge 2 ]] || die "--ca-days needs a value"; ca_days=$2; shift 2 ;;
        --san) [[ $# -ge 2 ]] || die "--san needs a value"; sans+=("$2"); shift 2 ;;
        --help|-h) usage; exit 0 ;;
        --) shift; args+=("$@"); break ;;
        -*) die "unknown option '$1' (see --help)" ;;
        *) args+=("$1"); shift ;;
    esac
done

((${#args[@]} >= 1)) || { usage >&2; exit 2; }
out=${args[0]}
names=("${args[@]:1}")
((${#names[@]})) || names=(silo client)
[[ $days =~ ^[0-9]+$ && $days -ge 1 ]] || die "--days: '$days' is not a positive number"
[[ $ca_days =~ ^[0-9]+$ && $ca_days -ge 1 ]] || die "--ca-days: '$ca_days' is not a positive number"
for n in "${names[@]}"; do
    [[ $n =~ ^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$ ]] || die "name '$n': letters, digits, '.' and '-' only (it becomes a DNS name and a file name)"
    [[ $n != ca ]] || die "name 'ca' is taken by the CA's own files"
done
for s in "${sans[@]}"; do
    [[ $s =~ ^(IP|DNS):[A-Za-z0-9.:*-]+$ ]] || die "--san '$s': give IP:ADDRESS or DNS:NAME"
done

openssl=${OPENSSL:-openssl}
command -v "$openssl" >/dev/null || die "openssl not found (apt-get install -y openssl)"

umask 077
mkdir -p "$out"
chmod 700 "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [[ -f $out/ca.pem && -f $out/ca.key ]]; then
    log "reusing the CA in $out/ca.pem"
else
    [[ ! -e $out/ca.pem && ! -e $out/ca.key ]] || die "$out has one of ca.pem/ca.key but not the other; remove it or restore the pair"
    "$openssl" ecparam -name prime256v1 -genkey -noout -out "$out/ca.key.tmp" 2>/dev/null
    "$openssl" pkcs8 -topk8 -nocrypt -in "$out/ca.key.tmp" -out "$out/ca.key"
    rm -f "$out/ca.key.tmp"
    "$openssl" req -x509 -new -sha256 -key "$out/ca.key" -days "$ca_days" -subj "/O=OrleansMigrate/CN=OrleansMigrate cluster CA $(date -u +%Y-%m-%d)" \
        -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" -out "$out/ca.pem"
    chmod 600 "$out/ca.key"
    chmod 644 "$out/ca.pem"
    log "made a new CA: $out/ca.pem (its key $out/ca.key)"
fi

for n in "${names[@]}"; do
    san="DNS:$n,DNS:localhost,IP:127.0.0.1"
    for s in "${sans[@]}"; do san+=",$s"; done
    "$openssl" ecparam -name prime256v1 -genkey -noout -out "$tmp/$n.ec" 2>/dev/null
    "$openssl" pkcs8 -topk8 -nocrypt -in "$tmp/$n.ec" -out "$tmp/$n.key"
    "$openssl" req -new -sha256 -key "$tmp/$n.key" -subj "/O=OrleansMigrate/CN=$n" -out "$tmp/$n.csr"
    cat > "$tmp/$n.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=$san
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EOF
    "$openssl" x509 -req -sha256 -in "$tmp/$n.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial -CAserial "$tmp/ca.srl" \
        -days "$days" -extfile "$tmp/$n.ext" -out "$tmp/$n.pem" 2>/dev/null
    OMIG_TLS_PASSWORD=${OMIG_TLS_PASSWORD:-} "$openssl" pkcs12 -export -name "$n" -inkey "$tmp/$n.key" -in "$tmp/$n.pem" -certfile "$out/ca.pem" \
        -passout env:OMIG_TLS_PASSWORD -out "$tmp/$n.pfx"
    "$openssl" verify -CAfile "$out/ca.pem" "$tmp/$n.pem" >/dev/null || die "the certificate made for '$n' does not verify against $out/ca.pem"
    for f in key pfx pem; do
        install -m 600 "$tmp/$n.$f" "$out/$n.$f"
    done
    chmod 644 "$out/$n.pem"
    log "made $out/$n.pfx ($out/$n.pem + $out/$n.key): subjectAltName $san, $days days"
done
