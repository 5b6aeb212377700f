#!/usr/bin/env bash
# On the H100/H200 (device run): S²Q-VDiT against the baselines on the tiny model at one setting, in one call (~9 min).
#   SETTING=w4a6 bash bench/gpu/s2q.sh
# In the background: the FP eval (reference clips), then the baselines rtn, smoothquant, quarot, viditq, gptq through
# `vdit eval --method` (calibrated on 2 seeded forwards). Meanwhile: `vdit calib` (10 prompts × 30 steps, timed),
# then the S²Q builds in parallel from that store: s2q, --no-sds (uniform timesteps), --no-std (plain MSE), each
# `vdit compile --batch 16` timed; then their evals. Every eval: standard set (48 classes × 4 seeds), 16 clips per
# forward, PSNR/SSIM vs FP. Everything lands in $OUT/$SETTING.tgz (results/*.json, compile reports, s2q.log).
# VARIANTS="s2q nosds nostd" limits the builds; EPOCHS, SAMPLES, PROMPTS, STEPS override the calibration budget.
set -uo pipefail
source .gpu/on-gpu.sh >/dev/null
S=${SETTING:-w4a6}
R=/tmp/res-$S
mkdir -p "$R" /tmp/q out
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
log() { echo "[$(date +%T)] $*" | tee -a "$R/s2q.log"; }
common=(--set standard --batch 16 --json)
ev() {  # ev <name> <model> [eval options...]
  local name=$1 model=$2; shift 2
  local t0=$SECONDS
  timeout "${EVAL_TIMEOUT:-240}" npx vdit eval "$model" "${common[@]}" "$@" -o "/tmp/q/$name" \
    > "/tmp/q/$name.out" 2> >(grep -v '^Warning' | tail -5 > "/tmp/q/$name.err")
  log "eval $name rc=$? $((SECONDS - t0)) s"
  [ -f "/tmp/q/$name/result.json" ] && cp "/tmp/q/$name/result.json" "$R/$S-$name.json"
  [ -s "/tmp/q/$name.err" ] && sed "s/^/  $name: /" "/tmp/q/$name.err" >> "$R/s2q.log"
  return 0
}
baselines() {
  [ -f /tmp/q/fp/result.json ] || ev fp tiny
  cp /tmp/q/fp/result.json "$R/fp.json" 2>/dev/null
  for m in rtn smoothquant quarot viditq gptq; do
    while [ "$(jobs -rp | wc -l)" -ge 2 ]; do sleep 1; done
    ev "$m" tiny --quant "$S" --method "$m" --reference /tmp/q/fp &
  done
  wait
}
baselines &
if [ ! -f out/calib/manifest.json ]; then
  t0=$SECONDS
  npx vdit calib tiny --prompts "${PROMPTS:-10}" --steps "${STEPS:-30}" -o out/calib --json > "$R/calib.json" 2>/dev/null
  log "calib rc=$? $((SECONDS - t0)) s"
fi
budget=(--calib-store out/calib ${EPOCHS:+--calib-epochs "$EPOCHS"} ${SAMPLES:+--calib-samples "$SAMPLES"})
build() {  # build <name> [compile options...]
  local name=$1; shift
  local t0=$SECONDS
  timeout "${COMPILE_TIMEOUT:-420}" npx vdit compile tiny --quant "$S" --method s2q --batch 16 "${budget[@]}" "$@" \
    -o "out/$S-$name" --json > "$R/$S-$name.compile.json" 2> >(grep -v '^Warning' | tail -5 > "/tmp/q/$S-$name.build.err")
  log "compile $S-$name rc=$? $((SECONDS - t0)) s"
  [ -s "/tmp/q/$S-$name.build.err" ] && sed "s/^/  $name: /" "/tmp/q/$S-$name.build.err" >> "$R/s2q.log"
  return 0
}
declare -A FLAGS=([s2q]="" [nosds]="--no-sds" [nostd]="--no-std")
pids=()
for v in ${VARIANTS:-s2q nosds nostd}; do build "$v" ${FLAGS[$v]} & pids+=($!); done
wait "${pids[@]}"
while [ ! -f /tmp/q/fp/result.json ]; do sleep 2; done
pids=()
for v in ${VARIANTS:-s2q nosds nostd}; do
  [ -f "out/$S-$v/manifest.json" ] && { ev "$v" "out/$S-$v" --reference /tmp/q/fp & pids+=($!); }
done
wait
log done
tar czf "$OUT/$S.tgz" -C "$R" .
