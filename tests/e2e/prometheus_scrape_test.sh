#!/usr/bin/env bash
# A real Prometheus server scrapes a real stratad: after one completion, the PromQL query
# strata:generation_tokens_total answers a non-zero value, and promtool accepts /metrics
# except for its lint against ':' in names (the strata: prefix mirrors vLLM's vllm:).
#   prometheus_scrape_test.sh BUILD_DIR
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

"$build/bin/strata-mkmodel" --shape tiny --seed 5 --out "$work/model" > /dev/null
"$build/bin/stratad" --config config/cpu-demo.yaml --set model.path="$work/model" \
  --set model.served_name=scrape-test --set server.http_port=0 --set server.grpc_port=0 \
  > "$work/stratad.log" 2>&1 &
pids+=($!)
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's|.*OpenAI API on http://127.0.0.1:\([0-9]*\)/v1.*|\1|p' "$work/stratad.log")
  [ -n "$port" ] && break
  sleep 0.2
done
[ -n "$port" ] || fail "stratad did not start"

curl -sf "http://127.0.0.1:$port/v1/completions" -H 'content-type: application/json' \
  -d '{"model": "scrape-test", "prompt": "Hello", "max_tokens": 5}' > "$work/completion.json" \
  || fail "completion request failed"

curl -sf "http://127.0.0.1:$port/metrics" > "$work/metrics.txt"
lint=$(promtool check metrics < "$work/metrics.txt" 2>&1 || true)
other=$(echo "$lint" | grep -v "metric names should not contain ':'" | grep -v '^$' || true)
[ -z "$other" ] || fail "promtool: $other"
# The same exposition with '_' for ':' must pass promtool outright.
sed 's/strata:/strata_/g' "$work/metrics.txt" | promtool check metrics || fail "promtool rejected /metrics"

cat > "$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: strata
    static_configs:
      - targets: ["127.0.0.1:$port"]
YAML
for attempt in 1 2 3; do
  prom_port=$((20000 + RANDOM % 20000))
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" > "$work/prometheus.log" 2>&1 &
  prom_pid=$!
  sleep 2
  kill -0 "$prom_pid" 2>/dev/null && break
done
pids+=("$prom_pid")
value=""
for _ in $(seq 1 60); do
  answer=$(curl -sf "http://127.0.0.1:$prom_port/api/v1/query" \
    --data-urlencode 'query=strata:generation_tokens_total' || true)
  value=$(echo "$answer" | python3 -c 'import json,sys
try:
    r = json.load(sys.stdin)["data"]["result"]
    print(r[0]["value"][1] if r else "")
except Exception:
    print("")')
  [ -n "$value" ] && break
  sleep 1
done
[ -n "$value" ] || fail "prometheus never answered strata:generation_tokens_total"
python3 -c "import sys; sys.exit(0 if float('$value') > 0 else 1)" || fail "value $value is not > 0"
echo "prometheus: strata:generation_tokens_total = $value"
