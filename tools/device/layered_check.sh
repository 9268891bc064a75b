#!/usr/bin/env bash
# Prefill modes under load: steady decode traffic with 4k-8k-token prompts arriving among it,
# for whole, chunked and layered prefill, per model and request rate. For every (model, mode)
# stratad starts once (cuda backend, random weights: no checkpoint is written or read); for
# every rate strata-loadtest runs STREAMS background decode streams (128-token prompts, long
# outputs), a LEAD_IN of them alone (the decode-only inter-token baseline), then DURATION
# seconds of Poisson arrivals of uniform:4096,8192-token prompts with 32-token outputs, then a
# LEAD_OUT of the streams alone again (decode-only at the contexts they reached). One
# table row per cell: TTFT mean/p99 and E2E mean of the long prompts, TBT p99 (every gap the
# clients saw under load), TBT p99 / decode-only iteration (the lead-in's, and each gap's
# against decode-only at the streams' context then: strata-loadtest --lead-out), expert-weight
# bytes per generated token (server /metrics deltas); then the layered-prefill targets checked. Each run first
# sends one long prompt alone and awaits it (warm-up, not measured).
#
# On the GPU machine, from the repository root, with .bundle/layered.tar.xz carried
# (tools/device/build_layered_bundle.sh; unpacked here):
#   tools/device/layered_check.sh
# On the build machine, against the CPU backend with tiny models and short durations (the
# same steps, checks the script and the table end to end):
#   tools/device/layered_check.sh --cpu-smoke [BIN_DIR]   (default build-grpc/bin)
#
# Environment (defaults for the GPU run, about 6-7 minutes in all):
#   MODELS="llama moe"   llama: llama-3.1-8b shape; moe: qwen3-30b-a3b (61 GB bf16, the
#                        largest MoE shape of one GPU)
#   MODES="whole chunked:2048 layered"   MODE[:MAX_BATCH_TOKENS[:COST_CONTEXT[:MAX_GROUPS]]]
#                        (default tokens 8448: a whole 8k prompt plus the decodes in one
#                        iteration / one layered cohort; COST_CONTEXT sets
#                        scheduler.prefill_cost_context, default 0; MAX_GROUPS sets
#                        scheduler.layered_max_groups, over EXTRA_SET's)
#   MOE_MODES="chunked:2048 layered whole"   the MoE's (its chunked-layered comparison first)
#   RATES="0.5 1 2"      long-prompt arrivals per second (MOE_RATES for the MoE; default RATES)
#   DURATION=10 LEAD_IN=3 LEAD_OUT=2 STREAMS=16   seconds of arrivals (whole), of
#                        decode-only lead-in and lead-out, background decode streams
#   BUDGET_S=400         no new stratad is started past this many seconds; the table is
#                        printed whatever ran
#   TEMPERATURE=T        every request's sampling temperature (default: the server's, 1).
#                        Random weights give nearly flat logits, over which a temperature
#                        draw walks most of the vocabulary in rank order (several ms per
#                        iteration); TEMPERATURE=0 keeps sampling out of the timings
#   EXTRA_SET="..."      more stratad --set overrides, e.g.
#                        "scheduler.layered_group_table=512:1,2048:2,8192:4"
# Results (one JSON per cell, stratad logs, table.md) go to $OUT/layered (or
# /tmp/layered-check); the table is printed last and written to $OUT/layered-table.md.
set -uo pipefail
root=$(pwd)
start_s=$SECONDS
smoke=0
if [ "${1:-}" = --cpu-smoke ]; then
  smoke=1
  bin=$(cd "${2:-$root/build-grpc/bin}" && pwd) || exit 1
  export PATH="$bin:$PATH"
fi

out=${OUT:+$OUT/layered}
out=${out:-/tmp/layered-check}
rm -rf "$out" && mkdir -p "$out"
port=${PORT:-18080}
base="http://127.0.0.1:$port"

if [ "$smoke" = 1 ]; then
  models=${MODELS:-"tiny-llama tiny-moe"}
  modes=${MODES:-"whole chunked:256 layered"}
  moe_modes=${MOE_MODES:-$modes}
  rates=${RATES:-"2 4"}
  moe_rates=${MOE_RATES:-$rates}
  duration=${DURATION:-2} lead_in=${LEAD_IN:-2} lead_out=${LEAD_OUT:-1} streams=${STREAMS:-3}
  input_len=${INPUT_LEN:-uniform:512,1024} output_len=${OUTPUT_LEN:-8}
  default_tokens=1088 budget=${BUDGET_S:-300} decode_output=${DECODE_OUTPUT_LEN:-1024}
  backend=(--set worker.backend=cpu --set worker.num_threads=2 --set model.max_model_len=4096)
  models_dir=$out/models
  for m in $models; do  # small real checkpoints, written here
    strata-mkmodel --shape "$m" --out "$models_dir/$m" --quiet --threads 2 >/dev/null || exit 1
  done
else
  rm -rf "$root/.bundle/layered" &&
    tar -C "$root/.bundle" -xJf "$root/.bundle/layered.tar.xz" || exit 1
  # shellcheck disable=SC1091
  source "$root/.bundle/layered/env.sh"
  models=${MODELS:-"llama moe"}
  modes=${MODES:-"whole chunked:2048 layered"}
  moe_modes=${MOE_MODES:-${MODES:-"chunked:2048 layered whole"}}
  rates=${RATES:-"0.5 1 2"}
  moe_rates=${MOE_RATES:-$rates}
  duration=${DURATION:-10} lead_in=${LEAD_IN:-3} lead_out=${LEAD_OUT:-2} streams=${STREAMS:-16}
  input_len=${INPUT_LEN:-uniform:4096,8192} output_len=${OUTPUT_LEN:-32}
  default_tokens=8448 budget=${BUDGET_S:-400}
  backend=(--set worker.backend=cuda --set model.random_weights=true
    --set worker.gpu_memory_utilization=0.92 --set model.max_model_len=12288)
  models_dir=$root/.bundle/layered/models  # config.json and tokenizer only
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
fi
decode_output=${decode_output:-${DECODE_OUTPUT_LEN:-4096}}
echo "models: $models; modes: $modes (MoE: $moe_modes); rates: $rates (MoE: $moe_rates);" \
  "$duration s of arrivals after a $lead_in s lead-in of $streams decode streams;" \
  "prompts $input_len, outputs $output_len"

dir_of() {
  case $1 in
    llama) echo "$models_dir/llama-3.1-8b" ;;
    moe) echo "$models_dir/qwen3-30b-a3b" ;;
    *) echo "$models_dir/$1" ;;
  esac
}

server_pid=
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null
  for _ in $(seq 1 50); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=
}
trap stop_server EXIT

# Starts stratad for (model dir, prefill mode, max batch tokens); waits for /ready.
start_server() {
  local dir=$1 mode=$2 tokens=$3 cost=$4 groups=$5 log=$6
  local extra=(--set scheduler.prefill_cost_context="$cost")
  for kv in ${EXTRA_SET:-}; do extra+=(--set "$kv"); done
  [ -z "$groups" ] || extra+=(--set scheduler.layered_max_groups="$groups")
  stratad --set model.path="$dir" --set server.http_port="$port" \
    --set server.grpc_port="$((port + 1))" --set server.log_level=warning \
    --set scheduler.prefill_mode="$mode" --set scheduler.max_batch_tokens="$tokens" \
    --set scheduler.max_num_seqs=64 --set server.shutdown_timeout_seconds=2 "${backend[@]}" "${extra[@]}" >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 900); do  # 180 s: the MoE's 61 GB of weights and the graph captures
    if ! kill -0 "$server_pid" 2>/dev/null; then
      server_pid=
      return 1
    fi
    curl -sf "$base/ready" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  stop_server
  return 1
}

cells=$out/cells.tsv
: >"$cells"
for model in $models; do
  dir=$(dir_of "$model")
  model_rates=$rates model_modes=$modes
  case $model in moe | *moe*) model_rates=$moe_rates model_modes=$moe_modes ;; esac
  for spec in $model_modes; do
    IFS=: read -r mode tokens cost groups <<<"$spec"
    tokens=${tokens:-$default_tokens}
    cost=${cost:-0}
    elapsed=$((SECONDS - start_s))
    if [ "$elapsed" -gt "$budget" ]; then
      echo "[$elapsed s] $model $spec: skipped (time budget $budget s)"
      for rate in $model_rates; do
        printf '%s\t%s\t%s\t-\tskipped (time)\n' "$model" "$spec" "$rate" >>"$cells"
      done
      continue
    fi
    log=$out/stratad-$model-${spec//:/-}.log
    echo "[$elapsed s] $model $spec: starting stratad"
    if ! start_server "$dir" "$mode" "$tokens" "$cost" "${groups:-}" "$log"; then
      echo "  stratad did not become ready; its log ends:"
      tail -5 "$log" | sed 's/^/    /'
      for rate in $model_rates; do
        printf '%s\t%s\t%s\t-\tstratad failed\n' "$model" "$spec" "$rate" >>"$cells"
      done
      continue
    fi
    echo "  ready after $((SECONDS - start_s - elapsed)) s"
    for rate in $model_rates; do
      result=$out/$model-${spec//:/-}-$rate.json
      n=$(awk -v r="$rate" -v d="$duration" 'BEGIN { n = int(r * d + 0.5); print (n < 3 ? 3 : n) }')
      cell_start=$SECONDS
      # the run stops sending, then reports
      limit=$((${lead_in%.*} + ${lead_out%.*} + duration * 2 + 15))
      timeout $((limit + 30)) strata-loadtest --base-url "$base" \
        --tokenizer "$dir" --prompt-format tokens --input-len "$input_len" \
        --output-len "$output_len" --num-requests "$n" --request-rate "$rate" --seed 1 \
        ${TEMPERATURE:+--temperature "$TEMPERATURE"} \
        --warmup-requests 1 \
        --decode-streams "$streams" --decode-output-len "$decode_output" --lead-in "$lead_in" \
        --lead-out "$lead_out" \
        --max-duration "${limit}s" --request-timeout 120s \
        --progress never --quiet --label "$model $spec $rate/s" --result "$result" \
        >"$out/loadtest-$model-${spec//:/-}-$rate.log" 2>&1
      rc=$?
      if [ $rc -eq 0 ] && [ -s "$result" ]; then
        printf '%s\t%s\t%s\t%s\tok\n' "$model" "$spec" "$rate" "$result" >>"$cells"
        summary=$(python3 - "$result" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
d = r.get("decode_streams", {})
m = r.get("server_metrics", {})
bpt = m.get("expert_weight_bytes_per_token")
ratio = d.get("itl_p99_over_baseline")
matched = d.get("itl_p99_over_matched")
print("done %d/%d, TTFT mean %.0f ms, TBT p99 %.1f ms (%s x the decode-only %.2f ms; "
      "%s x decode-only at the same contexts), expert %s%s" % (
    r["completed"], r["num_requests"], r["ttft_ms"]["mean"], d["all_itl_ms"]["p99"],
    "n/a" if ratio is None else "%.2f" % ratio, d["baseline_itl_ms"]["p50"],
    "n/a" if matched is None else "%.2f" % matched,
    "n/a" if bpt is None else "%.4g MB/token" % (bpt / 1e6),
    "; decode streams failed: %s" % d.get("first_error") if d.get("failed") else ""))
PY
        )
        echo "  rate $rate/s: $summary [$((SECONDS - cell_start)) s]"
      else
        printf '%s\t%s\t%s\t-\tloadtest exit %s\n' "$model" "$spec" "$rate" "$rc" >>"$cells"
        echo "  rate $rate/s: strata-loadtest exit $rc; its log ends:"
        tail -3 "$out/loadtest-$model-${spec//:/-}-$rate.log" | sed 's/^/    /'
      fi
      if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "  stratad exited; its log ends:"
        tail -5 "$log" | sed 's/^/    /'
        server_pid=
        break
      fi
    done
    stop_server
  done
done

python3 "$root/tools/device/layered_table.py" "$cells" >"$out/table.md"
if [ -n "${OUT:-}" ]; then
  cp "$out/table.md" "$OUT/layered-table.md"
  tar -C "$out" --exclude=models -czf "$OUT/layered.tgz" .
fi
echo
echo "## Prefill modes under load ($((SECONDS - start_s)) s)"
echo
cat "$out/table.md"
