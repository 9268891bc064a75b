#!/usr/bin/env bash
# On the build machine: build the CUDA op tests, the op benchmarks, the worker's device test,
# strata-bench-gpu and strata-mkmodel for sm_90a and bundle them (with the shared libraries
# the GPU machine lacks) into .bundle/perf, packed as .bundle/perf.tar.xz (carry that: the
# unpacked bundle is over the device tool's 64 MiB), for tools/device/perf_check.sh.
#   tools/device/build_perf_bundle.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-cuda}
jobs=${STRATA_BUILD_JOBS:-2}
cmake -S "$root" -B "$build" -G Ninja -DSTRATA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a
targets=(strata-cuda-ops-test strata-cuda-attention-bench strata-cuda-gemm-bench
  strata-cuda-moe-bench strata-cuda-model-test strata-bench-gpu strata-mkmodel)
cmake --build "$build" --target "${targets[@]}" -j"$jobs"
rm -rf "$root/.bundle/perf"
bundle=${STRATA_DEVICE_BUNDLE:-$root/../shared/tools/device-bundle}
"$bundle" "$root/.bundle/perf" "${targets[@]/#/$build/bin/}"
strip --strip-debug "$root/.bundle/perf/bin/"*  # keeps the carried tree small
tar -C "$root/.bundle" -cf - perf | xz -T"$jobs" -6 >"$root/.bundle/perf.tar.xz"
du -sh "$root/.bundle/perf.tar.xz"
