#!/usr/bin/env bash
# On the H100 (device run): `vdit devices`, then one cogvideox-2b denoiser forward (seeded weights, batch 1, 17776
# tokens) on WGSL for each storage type given (default: f16 f32) with the per-kernel time table; each run is one
# warm-up forward, one timed forward and one profiled forward. PyTorch bf16 runs separately (bench/torch_forward.py).
#   bash bench/gpu/forward.sh [f16] [f32]      (an f32 run takes several minutes: give it its own call)
set -uo pipefail
source .gpu/on-gpu.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$OUT/gpu.txt"
npx vdit devices --json > "$OUT/devices.json" 2>/dev/null
dtypes=("$@"); [ ${#dtypes[@]} -gt 0 ] || dtypes=(f16 f32)
for dt in "${dtypes[@]}"; do
  timeout 540 npx vdit run cogvideox-2b --backend wgsl --dtype "$dt" --profile --repeat 1 --json \
    > "$OUT/wgsl-$dt.json" 2> "$OUT/wgsl-$dt.err"
  echo "$dt rc=$?"; grep -o '"timeMs": [0-9.]*' "$OUT/wgsl-$dt.json"; grep -v '^Warning' "$OUT/wgsl-$dt.err" | tail -3
done
