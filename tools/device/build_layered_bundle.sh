#!/usr/bin/env bash
# On the build machine: build stratad, strata-loadtest, strata-mkmodel and strata-bench-gpu
# (its --layered mode: one cohort iteration on the worker) in the CUDA build
# (sm_90a), bundle them with the shared libraries the GPU machine lacks, add weightless model
# directories (config.json and the tokenizer files: stratad serves them with
# model.random_weights) for the llama-3.1-8b and qwen3-30b-a3b shapes, and pack it all as
# .bundle/layered.tar.xz for tools/device/layered_check.sh (carry that file).
#   tools/device/build_layered_bundle.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-cuda}
jobs=${STRATA_BUILD_JOBS:-2}
targets=(stratad strata-loadtest strata-mkmodel strata-bench-gpu)
# The CUDA build directory is shared: one build at a time.
flock "$root/.build-cuda.lock" cmake --build "$build" --target "${targets[@]}" -j"$jobs"
rm -rf "$root/.bundle/layered"
bundle=${STRATA_DEVICE_BUNDLE:-$root/../shared/tools/device-bundle}
"$bundle" "$root/.bundle/layered" "${targets[@]/#/$build/bin/}"
strip --strip-debug "$root/.bundle/layered/bin/"*  # keeps the carried tree small
for shape in llama-3.1-8b qwen3-30b-a3b; do
  (cd "$root" && "$build/bin/strata-mkmodel" --shape "$shape" --config-only --quiet \
    --out "$root/.bundle/layered/models/$shape")
done
tar -C "$root/.bundle" -cf - layered | xz -T"$jobs" -6 >"$root/.bundle/layered.tar.xz"
du -sh "$root/.bundle/layered.tar.xz"
