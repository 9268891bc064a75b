#!/usr/bin/env bash
# On the GPU machine, from the repository root, with .bundle/perf.tar.xz carried
# (tools/device/build_perf_bundle.sh; unpacked here each time): correctness, benchmarks and
# profiles of the CUDA worker in one call. Logs go to /tmp/perf-check and are packed into $OUT/perf.tgz at the
# end (Nsight Compute reports beside it, where small enough); a summary is printed last.
#   tools/device/perf_check.sh STEP...
# Steps:
#   tests      strata-cuda-ops-test (all suites) and strata-cuda-model-test on the fixtures
#   gemm       strata-cuda-gemm-bench (skinny kernel against cuBLASLt)
#   attention  strata-cuda-attention-bench
#   moe        strata-cuda-moe-bench (the MoE expert step from 1 to 8192 rows)
#   bench      strata-bench-gpu with its defaults (the docs/performance.md table)
#   ab         batch 1 and 8 decode, 8k prefill: cuBLASLt only / skinny GEMM / + PDL
#   long       batches 1-256 at 4096 context (needs an H200's memory for 128 and 256)
#   serve      strata-bench-gpu --serve 256:512:512
#   ncu        Nsight Compute: every kernel of one batch-1 and one batch-8 decode step and
#              of one 8k prefill (time, DRAM bytes and throughput, SM throughput) on the
#              shape cut to 4 layers, then the prefill attention kernel in full detail
#   ncu-old    the same steps with cuBLASLt only and PDL off
#   hf         tools/reference/transformers_throughput.py on the serve workload
#   sanitize   compute-sanitizer memcheck over strata-cuda-model-test, racecheck over part
#              of it and over the quick strata-cuda-ops-test shapes
set -uo pipefail
root=$(pwd)
rm -rf "$root/.bundle/perf" && tar -C "$root/.bundle" -xJf "$root/.bundle/perf.tar.xz" || exit 1
# shellcheck disable=SC1091
source "${STRATA_PERF_BUNDLE:-$root/.bundle/perf}/env.sh"
out=/tmp/perf-check
mkdir -p "$out"
export PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0
export STRATA_TEST_SEED=${STRATA_TEST_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
echo "seed $STRATA_TEST_SEED"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader
summary=()
pack() {
  [ -n "${OUT:-}" ] || return 0
  tar -C "$out" --exclude='*.ncu-rep' -czf "$OUT/perf.tgz" .
  for rep in "$out"/*.ncu-rep; do
    [ -f "$rep" ] && [ "$(stat -c %s "$rep")" -lt 15000000 ] && cp "$rep" "$OUT/"
  done
  return 0
}
metrics=gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum,launch__grid_size,launch__block_size,launch__registers_per_thread,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__throughput.avg.pct_of_peak_sustained_elapsed
for step in "$@"; do
  start=$SECONDS
  case $step in
    tests)
      timeout 150 strata-cuda-ops-test >"$out/ops-test.log" 2>&1
      rc=$?
      grep -E '^  [a-z_0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ ' "$out/ops-test.log"
      grep -E '^\[  FAILED  \]|Failure' "$out/ops-test.log" | sort -u | head -20
      timeout 120 strata-cuda-model-test --gtest_filter='-CudaRealModelTest.*' \
        >"$out/model-test.log" 2>&1
      rc2=$?
      grep -E '^\[  FAILED  \]|Failure|^\[  PASSED' "$out/model-test.log" | sort -u | head -20
      summary+=("tests: ops exit $rc, model exit $rc2")
      ;;
    gemm)
      timeout 120 strata-cuda-gemm-bench 2>&1 | tee "$out/gemm-bench.log"
      summary+=("gemm: exit ${PIPESTATUS[0]}")
      ;;
    attention)
      timeout 120 strata-cuda-attention-bench 2>&1 | tee "$out/attention-bench.log"
      summary+=("attention: exit ${PIPESTATUS[0]}")
      ;;
    moe)
      timeout 120 strata-cuda-moe-bench 2>&1 | tee "$out/moe-bench.log"
      summary+=("moe: exit ${PIPESTATUS[0]}")
      ;;
    bench)
      timeout 300 strata-bench-gpu 2>&1 | tee "$out/bench.md"
      summary+=("bench: exit ${PIPESTATUS[0]}")
      ;;
    ab)
      for mode in "--skinny-rows 0 --no-pdl" "--no-pdl" ""; do
        echo "### strata-bench-gpu --batches 1,8 --contexts 512 --prefill 8192 $mode"
        # shellcheck disable=SC2086
        timeout 150 strata-bench-gpu --batches 1,8 --contexts 512 --prefill 8192 $mode 2>&1 |
          grep -E '^\||^weights|^measured' | tee -a "$out/ab.md"
      done
      summary+=("ab: done")
      ;;
    long)
      timeout 240 strata-bench-gpu --batches 1,32,128,256 --contexts 4096 --prefill 8192 2>&1 |
        tee "$out/bench-long.md"
      summary+=("long: exit ${PIPESTATUS[0]}")
      ;;
    serve)
      timeout 240 strata-bench-gpu --serve 256:512:512 2>&1 | tee "$out/serve.md"
      summary+=("serve: exit ${PIPESTATUS[0]}")
      ;;
    ncu | ncu-old)
      # 4 layers (every layer runs the same kernels) and a small KV cache, so that Nsight
      # Compute can keep its replay backups on the device.
      extra=()
      [ "$step" = ncu-old ] && extra=(--skinny-rows 0 --no-pdl)
      timeout 300 "$ncu" --profile-from-start off --clock-control none --metrics "$metrics" \
        -o "$out/$step" -f strata-bench-gpu --profile --layers 4 --utilization 0.35 \
        --batches 1,8 --contexts 512 --prefill 8192 --steps 1 "${extra[@]}" \
        >"$out/$step-run.log" 2>&1
      rc=$?
      grep -E '^==ERROR|^\|' "$out/$step-run.log" | tail -8
      "$ncu" --import "$out/$step.ncu-rep" --csv --page raw --metrics "$metrics" \
        >"$out/$step-raw.csv" 2>"$out/$step-import.log"
      wc -l "$out/$step-raw.csv"
      if [ "$step" = ncu ]; then
        # The first prefill attention launch of strata-cuda-attention-bench: one 8192-token
        # causal prompt.
        timeout 120 "$ncu" --clock-control none --set full -k regex:PrefillKernel -c 1 \
          -o "$out/ncu-prefill-attention" -f strata-cuda-attention-bench \
          >"$out/ncu-prefill-attention-run.log" 2>&1
        "$ncu" --import "$out/ncu-prefill-attention.ncu-rep" --page details \
          >"$out/ncu-prefill-attention.txt" 2>&1
        "$ncu" --import "$out/ncu-prefill-attention.ncu-rep" --page raw --csv \
          >"$out/ncu-prefill-attention-raw.csv" 2>&1
        grep -E 'Duration|Compute \(SM\) Throughput|Memory Throughput|Registers Per|Achieved Occupancy|Theoretical Occupancy|Block Limit|Issue Slots Busy|Executed Ipc A|Dynamic Shared|Grid Size' \
          "$out/ncu-prefill-attention.txt" | head -24
      fi
      summary+=("$step: exit $rc")
      ;;
    hf)
      timeout 480 python3 "$root/tools/reference/transformers_throughput.py" 2>&1 |
        grep -vE 'it/s\]|s/it\]' | tee "$out/transformers.md"
      summary+=("hf: exit ${PIPESTATUS[0]}")
      ;;
    sanitize)
      # memcheck over the worker's device tests; racecheck over the worker's greedy and
      # batch-validation tests and the quick op-test shapes (cuBLAS's own kernels excluded).
      timeout 150 "$sanitizer" --tool memcheck --error-exitcode 97 strata-cuda-model-test \
        --gtest_filter='-CudaRealModelTest.*' >"$out/model-memcheck.log" 2>&1
      summary+=("model memcheck: exit $? ($(grep -E 'ERROR SUMMARY' "$out/model-memcheck.log" | tail -1))")
      timeout 150 "$sanitizer" --tool racecheck --error-exitcode 97 strata-cuda-model-test \
        --gtest_filter='*GreedyContinuation*:CudaWorkerTest.*' >"$out/model-racecheck.log" 2>&1
      summary+=("model racecheck: exit $? ($(grep -E 'RACECHECK SUMMARY' "$out/model-racecheck.log" | tail -1))")
      STRATA_CUDA_TEST_QUICK=1 timeout 150 "$sanitizer" --tool racecheck --error-exitcode 97 \
        strata-cuda-ops-test --gtest_filter='-CudaGemmTest.MatchesCpuLinear' \
        >"$out/ops-racecheck.log" 2>&1
      summary+=("ops racecheck: exit $? ($(grep -E 'RACECHECK SUMMARY' "$out/ops-racecheck.log" | tail -1))")
      ;;
    *)
      echo "unknown step $step"
      ;;
  esac
  summary[-1]+=" [$((SECONDS - start)) s]"
  pack  # after every step: what is done comes back even if a later step runs out of time
done
ls -la "${OUT:-$out}"
echo
printf '%s\n' "${summary[@]}"
