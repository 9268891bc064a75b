#!/usr/bin/env bash
# stratad's decode-only iteration, seen from the server: 16 decode streams of the
# llama-3.1-8b shape (random weights, chunked prefill, the layered check's settings), and
# three snapshots of /metrics 3 s apart during their lead-in. Prints each interval's
# iterations per second, mean iteration time, tokens per iteration and the server-side mean
# inter-token latency, then the clients' decode-only inter-token p50 from strata-loadtest.
# On the GPU machine, from the repository root, with .bundle/layered.tar.xz carried
# (tools/device/build_layered_bundle.sh). About 20 s per temperature; TEMPERATURES="0 1"
# (default: the server's default only, written "default") runs the streams at each.
set -uo pipefail
tar -C .bundle -xJf .bundle/layered.tar.xz || exit 1
# shellcheck disable=SC1091
source .bundle/layered/env.sh
dir=.bundle/layered/models/llama-3.1-8b
port=${PORT:-18080}
stratad --set model.path=$dir --set server.http_port="$port" --set server.grpc_port=$((port + 1)) \
  --set server.log_level=warning --set scheduler.prefill_mode=chunked \
  --set scheduler.max_batch_tokens=8448 --set scheduler.max_num_seqs=64 \
  --set worker.backend=cuda --set model.random_weights=true \
  --set worker.gpu_memory_utilization=0.92 --set model.max_model_len=12288 >/tmp/stratad.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 1 900); do curl -sf "localhost:$port/ready" >/dev/null && break; sleep 0.2; done
snapshot() {  # time iterations tokens itl_sum itl_count
  curl -s "localhost:$port/metrics" | awk -v t="$(date +%s.%N)" '
    /^strata:iterations_total/ { it = $2 } /^strata:generation_tokens_total/ { tok = $2 }
    /^strata:inter_token_latency_seconds_sum/ { s = $2 }
    /^strata:inter_token_latency_seconds_count/ { c = $2 }
    END { print t, it, tok, s, c }'
}
for temperature in ${TEMPERATURES:-default}; do
  flag=()
  [ "$temperature" != default ] && flag=(--temperature "$temperature")
  echo "temperature $temperature:"
  result=/tmp/decode-iteration-$temperature.json
  timeout 60 strata-loadtest --base-url "http://127.0.0.1:$port" --tokenizer $dir \
    --prompt-format tokens --input-len 128 --output-len 8 --num-requests 3 --request-rate 0.1 \
    --seed 1 --decode-streams 16 --decode-output-len 4096 --lead-in 8 --max-duration 40s \
    "${flag[@]}" --progress never --quiet --result "$result" >/tmp/loadtest.log 2>&1 &
  loadtest=$!
  sleep 4
  prev=$(snapshot)
  for _ in 1 2; do
    sleep 3
    now=$(snapshot)
    echo "$prev $now" | awk '{ dt = $6 - $1; di = $7 - $2
      printf "  %.0f iterations/s, %.2f ms per iteration, %.1f tokens per iteration, server ITL mean %.2f ms\n",
        di / dt, 1e3 * dt / di, ($8 - $3) / di, 1e3 * ($9 - $4) / ($10 - $5) }'
    prev=$now
  done
  wait $loadtest
  python3 -c "import json, sys; d = json.load(open(sys.argv[1]))['decode_streams']
print('  clients: decode-only inter-token p50 %.2f ms' % d['baseline_itl_ms']['p50'])" "$result"
done
