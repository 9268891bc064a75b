#!/usr/bin/env bash
# On the GPU machine, from the repository root, with .bundle/cuda carried along (see
# build_cuda_bundle.sh): the CUDA op tests (one process per suite), the decode-attention
# benchmark, then the quick test shapes under compute-sanitizer memcheck and racecheck.
# Logs go to $OUT (or /tmp/cuda-ops-check); a short table is printed last.
#   tools/device/cuda_ops_check.sh [tests|bench|memcheck|racecheck]...
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bundle=${STRATA_CUDA_BUNDLE:-$(pwd)/.bundle/cuda}
# shellcheck disable=SC1091
source "$bundle/env.sh"
out=${OUT:-/tmp/cuda-ops-check}
mkdir -p "$out"
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(tests bench memcheck racecheck)
export STRATA_TEST_SEED=${STRATA_TEST_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}
echo "seed $STRATA_TEST_SEED"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv,noheader
summary=()
for step in "${steps[@]}"; do
  start=$SECONDS
  case $step in
    tests)
      rc=0
      for suite in CudaOpsTest CudaAttentionTest CudaGemmTest CudaSamplingTest; do
        if ! timeout 100 strata-cuda-ops-test --gtest_filter="$suite.*" >>"$out/tests.log" 2>&1; then
          rc=1
          # cuBLASLt explains its refusals in its API log.
          [ "$suite" = CudaGemmTest ] && CUBLASLT_LOG_LEVEL=5 timeout 60 strata-cuda-ops-test \
            --gtest_filter="$suite.*" 2>&1 | grep -iE 'error|invalid|heuristic' | tail -5
        fi
      done
      # The per-op tables (op, checks, elements, failures, max_abs, max_rel_l2, worst/bound).
      grep -E '^  [a-z_0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ ' "$out/tests.log"
      grep -E '^  sample ' "$out/tests.log"
      grep -E '^\[  FAILED  \]' "$out/tests.log" | sort -u | head -20
      summary+=("tests: exit $rc, $(grep -c '^\[       OK \]' "$out/tests.log") passed, $(grep -c '^\[  FAILED  \] [A-Z]' "$out/tests.log") failed")
      ;;
    bench)
      timeout 90 strata-cuda-attention-bench 2>&1 | tee "$out/bench.log"
      summary+=("bench: exit ${PIPESTATUS[0]}")
      ;;
    memcheck | racecheck)
      filter='*'
      [ "$step" = racecheck ] &&
        filter='-CudaGemmTest.*'  # cuBLAS's own kernels are not ours to race-check
      STRATA_CUDA_TEST_QUICK=1 timeout 140 "$sanitizer" --tool "$step" --error-exitcode 97 \
        strata-cuda-ops-test --gtest_filter="$filter" >"$out/$step.log" 2>&1
      rc=$?
      tail -4 "$out/$step.log"
      summary+=("$step: exit $rc ($(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/$step.log" | tail -1))")
      ;;
  esac
  summary[-1]+=" [$((SECONDS - start)) s]"
done
echo
printf '%s\n' "${summary[@]}"
