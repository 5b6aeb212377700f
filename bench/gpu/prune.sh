#!/usr/bin/env bash
# On the H100 (device runs): attention token pruning (vdit issue 7), quality on the tiny model and kernel time on
# cogvideox-2b shapes, in one call (~7 min):
#   bash bench/gpu/prune.sh
# 1. `vdit calib tiny` (10 prompts × 30 steps, attention importance on) into out/calib; the dense FP clips and the
#    dense W4A6 (RTN) clips of the standard set (48 classes × 4 seeds) in the background.
# 2. `vdit compile tiny --quant none --prune keep=K` for K = 0.75, 0.5, 0.25 and `schedule=1/0.5/0.25`, and
#    `--quant w4a6 --method rtn --prune keep=0.5`; each evaluated on the standard set, PSNR/SSIM vs its dense twin.
# 3. Alone on the card at the end: bench/attention-sparse.ts on cogvideox-2b's self-attention (WGSL, dense vs kept
#    0.75/0.5/0.25 of the tiles) and, when CUDA=1, the same through the CUDA runner.
# Results: $OUT/results.tgz (keep<K>.json, schedule.json, w4a6-keep0.5.json, *.compile.json, fp.json, w4a6.json,
# attention-wgsl.json, calib.json, gpu.txt, prune.log).
set -uo pipefail
R=/tmp/res
LOG=prune.log
source bench/gpu/lib.sh
build() {  # build <name> <compile options...>
  local name=$1; shift
  timeout 200 $VDIT compile tiny --calib-store out/calib --batch 16 -o "out/$name" --json "$@" \
    > "$R/$name.compile.json" 2> >(grep -v '^Warning' | tail -3 > "/tmp/q/$name.build.err")
  log "compile $name rc=$?"
  [ -s "/tmp/q/$name.build.err" ] && sed "s/^/  $name: /" "/tmp/q/$name.build.err" >> "$R/prune.log"
  return 0
}
ev fp tiny &
ev w4a6 tiny --quant w4a6 --method rtn &
if [ ! -f out/calib/manifest.json ]; then
  t0=$SECONDS
  $VDIT calib tiny --prompts 10 --steps 30 -o out/calib --json > "$R/calib.json" 2>/dev/null
  log "calib rc=$? $((SECONDS - t0)) s"
fi
for k in 0.75 0.5 0.25; do build "keep$k" --quant none --prune "keep=$k"; done
build schedule --quant none --prune schedule=1/0.5/0.25
build w4a6-keep0.5 --quant w4a6 --method rtn --prune keep=0.5
wait
for k in 0.75 0.5 0.25; do ev "keep$k" "out/keep$k" --reference /tmp/q/fp & done
ev schedule out/schedule --reference /tmp/q/fp &
ev w4a6-keep0.5 out/w4a6-keep0.5 --reference /tmp/q/w4a6 &
wait
timeout 240 $TSX bench/attention-sparse.ts cogvideox-2b -o "$R/attention-wgsl.json" 2> >(grep -v '^Warning' >> "$R/prune.log")
log "attention wgsl rc=$?"
log done
