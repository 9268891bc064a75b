#!/usr/bin/env bash
# On the build machine: configure and build the CUDA device test and benchmark for sm_90a,
# then bundle them (with the shared libraries the GPU machine lacks) into .bundle/cuda.
#   tools/device/build_cuda_bundle.sh [BUILD_DIR]
# Then run tools/device/cuda_ops_check.sh on the GPU machine with .bundle carried along.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-cuda}
cmake -S "$root" -B "$build" -G Ninja -DSTRATA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90a
cmake --build "$build" --target strata-cuda-ops-test strata-cuda-attention-bench -j"$(nproc)"
rm -rf "$root/.bundle/cuda"
bundle=${STRATA_DEVICE_BUNDLE:-$root/../shared/tools/device-bundle}
"$bundle" "$root/.bundle/cuda" "$build/bin/strata-cuda-ops-test" \
  "$build/bin/strata-cuda-attention-bench"
strip --strip-debug "$root/.bundle/cuda/bin/"*  # keeps the carried tree small
cp "$root/tools/device/cuda_ops_check.sh" "$root/.bundle/cuda/"
