#!/usr/bin/env bash
# On the H100 (device run, carry .gpu): `vdit bench` of cogvideox-2b (seeded weights), writing JSON to $OUT.
#   bash bench/gpu/bench.sh                     GEMMs: every qgemm variant (w4a8, w4a6), our f16/f32 GEMM, PyTorch
#                                               bf16 F.linear and int8 _int_mm on the model's linear shapes (~3 min)
#   bash bench/gpu/bench.sh step [BUILD...]     one full denoising forward per build (default f16 w4a8 w4a6; each
#                                               build ~1.5 min: seeded weights, RTN, one warm-up + one timed forward)
# Two calls, each under the 10-minute limit; then: npx tsx bench/bench-report.ts <dir with both calls' files>.
set -uo pipefail
source .gpu/on-gpu.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$OUT/gpu.txt"
mode=${1:-shapes}
[ $# -gt 0 ] && shift
if [ "$mode" = step ]; then
  builds=("$@"); [ ${#builds[@]} -gt 0 ] || builds=(f16 w4a8 w4a6)
  timeout 560 npx vdit bench cogvideox-2b --weights seeded --no-shapes --step --builds "$(IFS=,; echo "${builds[*]}")" \
    --repeats 1 --warmup 1 --out "$OUT/bench-step.json" > "$OUT/bench-step.txt" 2> "$OUT/bench-step.err"
  echo "step rc=$?"; grep -v '^Warning' "$OUT/bench-step.err" | tail -8; cat "$OUT/bench-step.txt"
  exit 0
fi
timeout 360 npx vdit bench cogvideox-2b --weights seeded --quant w4a8,w4a6 --repeats 10 --warmup 3 \
  --out "$OUT/bench.json" > "$OUT/bench.txt" 2> "$OUT/bench.err"
echo "vdit bench rc=$?"; grep -v '^Warning' "$OUT/bench.err" | grep -E 'exactness|FAILED|error' | head -20
forward=bench/results/h100-2026-11-25/torch-bf16.json
timeout 120 python3 bench/torch_linear.py "$OUT/bench.json" --repeat 20 --warmup 5 --forward "$forward" \
  > "$OUT/torch-linear.json" 2> "$OUT/torch-linear.err"
echo "torch rc=$?"; tail -3 "$OUT/torch-linear.err"
npx tsx bench/bench-report.ts "$OUT" > "$OUT/report.md" && cat "$OUT/report.md"
