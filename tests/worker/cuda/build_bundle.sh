#!/usr/bin/env bash
# On the build machine: build the CUDA worker's device test, benchmark and strata-mkmodel for
# sm_90a and bundle them (with the shared libraries the GPU machine lacks) into .bundle/worker.
#   tests/worker/cuda/build_bundle.sh [BUILD_DIR]
# Then run tests/worker/cuda/device_check.sh on the GPU machine with .bundle/worker carried.
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-$root/build-cuda}
cmake -S "$root" -B "$build" -G Ninja -DSTRATA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a
cmake --build "$build" --target strata-cuda-model-test strata-bench-gpu strata-mkmodel \
  -j"$(nproc)"
rm -rf "$root/.bundle/worker"
bundle=${STRATA_DEVICE_BUNDLE:-$root/../shared/tools/device-bundle}
"$bundle" "$root/.bundle/worker" "$build/bin/strata-cuda-model-test" \
  "$build/bin/strata-bench-gpu" "$build/bin/strata-mkmodel"
strip --strip-debug "$root/.bundle/worker/bin/"*
