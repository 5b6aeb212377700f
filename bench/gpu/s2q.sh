#!/usr/bin/env bash
# On the H100/H200 (device runs): S²Q-VDiT against the baselines on the tiny model, in two back-to-back calls on
# one warm machine (out/ and /tmp/q survive between them while it stays warm).
#   BUILDS="w4a4:s2q w4a4:nosds w4a4:nostd w4a4:gptq ..." bash bench/gpu/s2q.sh build   (~9 min)
#   EVALS="w4a4:s2q ... w4a4:rtn@ w4a4:quarot@" bash bench/gpu/s2q.sh eval              (~4 min)
# build: FP eval (the reference clips) in the background; `vdit calib` (10 prompts × 30 steps, timed) into out/calib;
#   then every build in parallel, `vdit compile tiny --quant S --batch 16 --calib-store out/calib`, timed:
#   s2q (SDS + STD), nosds (uniform timesteps), nostd (plain MSE), nosdsnostd (both off), and the baselines
#   smoothquant / viditq / gptq (statistics from K = 40 uniform timesteps of the same store) or rtn / quarot.
# eval: `vdit eval` on the standard set (48 classes × 4 seeds), 16 clips per forward, PSNR/SSIM vs the FP clips, of
#   each compiled folder; a name ending in @ is evaluated from the preset with --method instead (rtn, quarot).
# Results: $OUT/results.tgz (<S>-<name>.json evals, <S>-<name>.compile.json reports, calib.json, fp.json, s2q.log).
# EPOCHS, SAMPLES, PROMPTS, STEPS override the calibration budget.
set -uo pipefail
source .gpu/on-gpu.sh >/dev/null
R=/tmp/res
mkdir -p "$R" /tmp/q out
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
log() { echo "[$(date +%T)] $*" | tee -a "$R/s2q.log"; }
pack() { tar czf "$OUT/results.tgz" -C "$R" .; }
trap pack EXIT
trap 'exit 143' TERM
ev() {  # ev <name> <model> [eval options...]
  local name=$1 model=$2; shift 2
  local t0=$SECONDS
  timeout "${EVAL_TIMEOUT:-300}" npx vdit eval "$model" --set standard --batch 16 --json "$@" -o "/tmp/q/$name" \
    > "/tmp/q/$name.out" 2> >(grep -v '^Warning' | tail -5 > "/tmp/q/$name.err")
  log "eval $name rc=$? $((SECONDS - t0)) s"
  [ -f "/tmp/q/$name/result.json" ] && cp "/tmp/q/$name/result.json" "$R/$name.json"
  [ -s "/tmp/q/$name.err" ] && sed "s/^/  $name: /" "/tmp/q/$name.err" >> "$R/s2q.log"
  return 0
}
declare -A FLAGS=([s2q]="--method s2q" [nosds]="--method s2q --no-sds" [nostd]="--method s2q --no-std"
  [nosdsnostd]="--method s2q --no-sds --no-std" [smoothquant]="--method smoothquant" [viditq]="--method viditq"
  [gptq]="--method gptq" [rtn]="--method rtn" [quarot]="--method quarot"
  [oneprompt]="--method s2q --calib-strategy one-prompt" [randomt]="--method s2q --calib-strategy random-t"
  [diffonly]="--method s2q --calib-strategy diff-only" [quantonly]="--method s2q --calib-strategy quant-only")
build() {  # build <setting> <name>
  local s=$1 name=$2 t0=$SECONDS
  # shellcheck disable=SC2086
  timeout "${COMPILE_TIMEOUT:-460}" npx vdit compile tiny --quant "$s" ${FLAGS[$name]} --batch 16 --calib-store out/calib \
    ${EPOCHS:+--calib-epochs "$EPOCHS"} ${SAMPLES:+--calib-samples "$SAMPLES"} -o "out/$s-$name" --json \
    > "$R/$s-$name.compile.json" 2> >(grep -v '^Warning' | tail -5 > "/tmp/q/$s-$name.build.err")
  log "compile $s-$name rc=$? $((SECONDS - t0)) s"
  [ -s "/tmp/q/$s-$name.build.err" ] && sed "s/^/  $s-$name: /" "/tmp/q/$s-$name.build.err" >> "$R/s2q.log"
  return 0
}
case "${1:-}" in
  build)
    [ -f /tmp/q/fp/result.json ] || ev fp tiny &
    if [ ! -f out/calib/manifest.json ]; then
      t0=$SECONDS
      npx vdit calib tiny --prompts "${PROMPTS:-10}" --steps "${STEPS:-30}" -o out/calib --json > "$R/calib.json" 2>/dev/null
      log "calib rc=$? $((SECONDS - t0)) s"
    fi
    for b in $BUILDS; do build "${b%%:*}" "${b#*:}" & done
    wait ;;
  eval)
    while [ ! -f /tmp/q/fp/result.json ]; do sleep 2; done
    cp /tmp/q/fp/result.json "$R/fp.json"
    for e in $EVALS; do
      while [ "$(jobs -rp | wc -l)" -ge "${PAR:-4}" ]; do sleep 1; done
      s=${e%%:*}; n=${e#*:}
      if [[ $n == *@ ]]; then n=${n%@}; ev "$s-$n" tiny --quant "$s" ${FLAGS[$n]} --reference /tmp/q/fp &
      else ev "$s-$n" "out/$s-$n" --reference /tmp/q/fp & fi
    done
    wait ;;
  *) echo "usage: bash bench/gpu/s2q.sh build|eval" >&2; exit 2 ;;
esac
log "$1 done"
