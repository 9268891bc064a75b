#!/usr/bin/env bash
# Writes throwaway TLS material for tests into DIR (created if missing), with the openssl CLI:
#   ca.pem ca.key              a test CA
#   server.pem server.key      signed by it, for localhost and 127.0.0.1 (serverAuth)
#   client.pem client.key      signed by it (clientAuth)
#   rogue-ca.pem               another CA, trusted by nobody
#   rogue-client.pem/.key      a client certificate signed by the rogue CA
# EC P-256 keys, valid for two days. Never commit the output.
set -euo pipefail
dir=${1:?usage: make_test_certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077

ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

ca() {  # NAME CN
  ec "$1.key"
  openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

leaf() {  # NAME CN CA EXTENSIONS
  ec "$1.key"
  openssl req -new -key "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 2 -out "$1.pem" -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}

ca ca "Strata Test CA"
leaf server localhost ca \
  "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1"
leaf client strata-test-client ca \
  "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
ca rogue-ca "Rogue Test CA"
leaf rogue-client rogue-client rogue-ca \
  "basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
chmod 644 ./*.pem
