#!/usr/bin/env bash
# The real stratad with TLS, an API key file and short request deadlines, all from config
# keys: curl gets answers over https only with a listed key, a client that stalls in its
# header gets 408, bad key files and half TLS settings are start-up errors naming the key,
# and SIGTERM exits 0. Certificates are made at test time in a temporary directory.
#   stratad_tls_test.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$work"/*.log; do echo "--- $f"; tail -20 "$f"; done >&2; exit 1; }

tests/server/security/make_test_certs.sh "$work/certs"
printf '# keys\n\nkey-one\nkey-two\n' > "$work/keys"
"$build/bin/strata-mkmodel" --shape tiny --seed 5 --out "$work/model" > /dev/null
stratad=("$build/bin/stratad" --config config/cpu-demo.yaml --set model.path="$work/model"
         --set model.served_name=tls-test --set server.http_port=0 --set server.grpc_port=0)

# Start-up errors name the key (and the file and line for the key file).
expect_error() {  # MESSAGE ARGS...
  local message=$1; shift
  set +e; out=$("${stratad[@]}" "$@" 2>&1); code=$?; set -e
  [ "$code" = 1 ] || fail "expected exit 1 for $*, got $code: $out"
  grep -qF -- "$message" <<< "$out" || fail "expected '$message' for $*, got: $out"
}
printf '# nothing yet\n' > "$work/empty-keys"
expect_error "server.api_key_file: $work/empty-keys: no API key in the file" \
  --set server.api_key_file="$work/empty-keys"
printf 'good\nbad key\n' > "$work/bad-keys"
expect_error "server.api_key_file: $work/bad-keys:2: a key must not contain whitespace" \
  --set server.api_key_file="$work/bad-keys"
expect_error "server.api_key_file: cannot read '$work/absent'" --set server.api_key_file="$work/absent"
expect_error "server.tls_key_file: required when server.tls_cert_file is set" \
  --set server.tls_cert_file="$work/certs/server.pem"
expect_error "server.tls_key_file: the private key in '$work/certs/client.key' does not match" \
  --set server.tls_cert_file="$work/certs/server.pem" --set server.tls_key_file="$work/certs/client.key"

"${stratad[@]}" --set server.tls_cert_file="$work/certs/server.pem" \
  --set server.tls_key_file="$work/certs/server.key" --set server.api_key_file="$work/keys" \
  --set server.header_timeout_seconds=0.5 --set server.body_timeout_seconds=0.5 \
  > "$work/stratad.log" 2>&1 &
pid=$!
pids+=($pid)
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's|.*OpenAI API on https://127.0.0.1:\([0-9]*\)/v1, gRPC (TLS).*|\1|p' "$work/stratad.log")
  [ -n "$port" ] && break
  sleep 0.2
done
[ -n "$port" ] || fail "stratad did not start with TLS"
grep -q "API keys required on /v1/\* and strata.v1.Strata (2 accepted)" "$work/stratad.log" \
  || fail "no API key log line"

url="https://127.0.0.1:$port"
tls=(--cacert "$work/certs/ca.pem" -s -o /dev/null -w '%{http_code}')
body='{"model": "tls-test", "prompt": "Hello", "max_tokens": 4}'
for key in key-one key-two; do
  code=$(curl "${tls[@]}" "$url/v1/completions" -H "Authorization: Bearer $key" \
    -H 'content-type: application/json' -d "$body")
  [ "$code" = 200 ] || fail "completion with $key: HTTP $code"
done
code=$(curl "${tls[@]}" "$url/v1/completions" -H 'Authorization: Bearer key-three' \
  -H 'content-type: application/json' -d "$body")
[ "$code" = 401 ] || fail "wrong key: HTTP $code"
[ "$(curl "${tls[@]}" "$url/health")" = 200 ] || fail "/health over https"
[ "$(curl "${tls[@]}" "$url/metrics")" = 200 ] || fail "/metrics over https"
if curl -s -o /dev/null "http://127.0.0.1:$port/health"; then fail "plain HTTP was answered"; fi

# A client that stalls in its header gets 408 after server.header_timeout_seconds.
# (The status line is timed when it arrives; the pipeline itself lasts as long as the sleep.)
start=$(date +%s%N)
reply=$( (printf 'GET /health HTTP/1.1\r\nHost: x\r\n'; sleep 4) |
  (timeout 10 openssl s_client -connect "127.0.0.1:$port" -CAfile "$work/certs/ca.pem" -quiet \
    2>/dev/null || true) |
  { IFS= read -r line || true; echo "$(( ($(date +%s%N) - start) / 1000000 )) $line"; cat > /dev/null; })
elapsed_ms=${reply%% *}
grep -q "^[0-9]* HTTP/1.1 408" <<< "$reply" || fail "stalled header: expected 408, got: $reply"
[ "$elapsed_ms" -ge 400 ] && [ "$elapsed_ms" -lt 3000 ] ||
  fail "stalled header answered after $elapsed_ms ms, expected about 500"

kill -TERM "$pid"
set +e; wait "$pid"; code=$?; set -e
pids=()
[ "$code" = 0 ] || fail "stratad exited $code after SIGTERM"
echo "PASS"
