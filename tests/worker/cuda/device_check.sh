#!/usr/bin/env bash
# On the GPU machine, from the repository root, with .bundle/worker carried (build_bundle.sh):
#   fixtures  strata-cuda-model-test on the committed transformers fixtures
#   qwen3     a qwen3-0.6b-shaped model from strata-mkmodel against transformers (PyTorch)
#   llama8b   a 4-layer model with Llama-3.1-8B widths, likewise
#   bench     strata-bench-gpu (llama-3.1-8b shape, random weights on the device)
# Logs go to $OUT (or /tmp/cuda-worker-check); a summary is printed last.
#   tests/worker/cuda/device_check.sh [fixtures|qwen3|llama8b|bench]...
set -uo pipefail
scripts=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
source "${STRATA_WORKER_BUNDLE:-$(pwd)/.bundle/worker}/env.sh"
out=${OUT:-/tmp/cuda-worker-check}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(fixtures qwen3 llama8b bench)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
summary=()
real_model() {  # name, mkmodel arguments..., -- reference arguments...
  local name=$1 dir=/tmp/strata-$1
  shift
  local mk=() ref=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do mk+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  ref=("$@")
  rm -rf "$dir"
  timeout 240 strata-mkmodel "${mk[@]}" --seed 0 --out "$dir" --no-tokenizer --quiet \
    >"$out/$name-mkmodel.log" 2>&1 || { echo "mkmodel failed"; tail -5 "$out/$name-mkmodel.log"; return 1; }
  timeout 300 python3 "$scripts/transformers_reference.py" "$dir" "${ref[@]}" \
    >"$out/$name-reference.log" 2>&1 || { echo "reference failed"; tail -20 "$out/$name-reference.log"; return 1; }
  STRATA_REAL_MODEL_DIR=$dir timeout 240 strata-cuda-model-test \
    --gtest_filter='CudaRealModelTest.*' >"$out/$name-test.log" 2>&1
  local rc=$?
  grep -E '^\[ /|^graph batch|Failure|Expected|Which is|actual|^\[  FAILED|^\[  PASSED' \
    "$out/$name-test.log" | head -40
  return $rc
}
for step in "${steps[@]}"; do
  start=$SECONDS
  case $step in
    fixtures)
      timeout 240 strata-cuda-model-test --gtest_filter='-CudaRealModelTest.*' \
        >"$out/fixtures.log" 2>&1
      rc=$?
      grep -E '^\[ (llama|qwen2|qwen3) \]|Failure|Expected|Which is|^\[  FAILED|^\[  PASSED' \
        "$out/fixtures.log" | head -60
      summary+=("fixtures: exit $rc")
      ;;
    qwen3)
      real_model qwen3 --shape qwen3-0.6b
      summary+=("qwen3-0.6b: exit $?")
      ;;
    llama8b)
      real_model llama8b --shape custom --arch llama --hidden 4096 --intermediate 14336 \
        --layers 4 --heads 32 --kv-heads 8 --vocab 128256 --llama3-rope-scaling \
        -- --prompt-lens 5,64,300 --new-tokens 16
      summary+=("llama8b-widths: exit $?")
      ;;
    bench)
      timeout 300 strata-bench-gpu 2>&1 | tee "$out/bench.md"
      summary+=("bench: exit ${PIPESTATUS[0]}")
      ;;
  esac
  summary[-1]+=" [$((SECONDS - start)) s]"
done
echo
printf '%s\n' "${summary[@]}"
