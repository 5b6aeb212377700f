#!/usr/bin/env bash
# On the H100 (device run): the RTN quality table of the tiny model. Evaluates FP, then W8A8, W4A8, W4A6, W4A4 and
# W4A6 with the adaLN linears kept FP (the lineage's choice), each on the standard set (48 classes × 4 seeds) with
# --reference the FP folder (PSNR/SSIM vs FP); copies each result.json to $OUT/<name>.json and renders
# $OUT/tiny-rtn.md (bench/quality-report.ts; copy it to bench/results/tiny-rtn.md with the JSONs in tiny-rtn/).
# Budget ~4 min: the FP eval takes ~35 s at --batch 16. Each eval is capped at $EVAL_TIMEOUT s (default 75).
#   bash bench/gpu/quality.sh                 (WEIGHTS=<file> to use other weights than the embedded ones;
#                                              KERNEL=qgemm=dp4a to force a qgemm kernel: integer sums are exact in
#                                              every variant, so the choice changes time, not quality)
set -uo pipefail
source .gpu/on-gpu.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$OUT/gpu.txt"
common=(--set standard --batch 16 --json ${WEIGHTS:+--weights "$WEIGHTS"} ${KERNEL:+--kernel "$KERNEL"})
run() {  # run <name> [eval options...]
  local name=$1; shift
  local t0=$SECONDS
  timeout "${EVAL_TIMEOUT:-75}" npx vdit eval tiny "${common[@]}" "$@" -o "/tmp/quality/$name" \
    > "$OUT/$name.out" 2> >(grep -v '^Warning' | tail -5 > "$OUT/$name.err")
  local rc=$?
  echo "$name rc=$rc $((SECONDS - t0)) s"
  [ -f "/tmp/quality/$name/result.json" ] && cp "/tmp/quality/$name/result.json" "$OUT/$name.json"
  return 0
}
mkdir -p /tmp/quality
run fp
[ -f /tmp/quality/fp/result.json ] || { echo 'FP eval failed: nothing to compare with'; cat "$OUT/fp.err"; exit 1; }
ref=(--reference /tmp/quality/fp)
run w8a8 --quant w8a8 "${ref[@]}"
run w4a8 --quant w4a8 "${ref[@]}"
run w4a6 --quant w4a6 "${ref[@]}"
run w4a4 --quant w4a4 "${ref[@]}"
run w4a6-adaln-fp --quant w4a6 --keep-fp '**.adaLN_modulation.*' "${ref[@]}"
npx tsx bench/quality-report.ts "$OUT" -o "$OUT/tiny-rtn.md" && cat "$OUT/tiny-rtn.md"
