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
# EPOCHS, SAMPLES, PROMPTS, STEPS override the calibration budget. A build or eval "w4a4:s2q#2" uses the trajectories of
# `vdit calib --seed 2` (out/calib-s2; classes, noise and random-t of that seed) and is named w4a4-s2q-s2.
set -uo pipefail
R=/tmp/res
LOG=s2q.log
source bench/gpu/lib.sh
declare -A FLAGS=([s2q]="--method s2q" [nosds]="--method s2q --no-sds" [nostd]="--method s2q --no-std"
  [nosdsnostd]="--method s2q --no-sds --no-std" [smoothquant]="--method smoothquant" [viditq]="--method viditq"
  [gptq]="--method gptq" [rtn]="--method rtn" [quarot]="--method quarot"
  [oneprompt]="--method s2q --calib-strategy one-prompt" [randomt]="--method s2q --calib-strategy random-t"
  [diffonly]="--method s2q --calib-strategy diff-only" [quantonly]="--method s2q --calib-strategy quant-only")
seed_of() { [[ $1 == *#* ]] && echo "${1##*#}"; }   # "w4a4:s2q#2" → 2, no "#": none
store_of() { local seed; seed=$(seed_of "$1"); echo "out/calib${seed:+-s$seed}"; }
calib() {  # calib <seed or empty>: the trajectories of that seed into their store, once
  local seed=$1 store t0=$SECONDS
  store="out/calib${seed:+-s$seed}"
  [ -f "$store/manifest.json" ] && return 0
  $VDIT calib tiny --prompts "${PROMPTS:-10}" --steps "${STEPS:-30}" ${seed:+--seed "$seed"} -o "$store" --json \
    > "$R/calib${seed:+-s$seed}.json" 2>/dev/null
  log "calib${seed:+ seed $seed} rc=$? $((SECONDS - t0)) s"
}
build() {  # build <setting>:<name>[#seed]
  local spec=$1 t0=$SECONDS
  local s=${spec%%:*} rest=${spec#*:}
  local name=${rest%%#*} seed
  seed=$(seed_of "$spec")
  local out="$s-$name${seed:+-s$seed}"
  # shellcheck disable=SC2086
  timeout "${COMPILE_TIMEOUT:-460}" $VDIT compile tiny --quant "$s" ${FLAGS[$name]} --batch 16 --calib-store "$(store_of "$spec")" \
    ${EPOCHS:+--calib-epochs "$EPOCHS"} ${SAMPLES:+--calib-samples "$SAMPLES"} -o "out/$out" --json \
    > "$R/$out.compile.json" 2> >(grep -v '^Warning' | tail -5 > "/tmp/q/$out.build.err")
  log "compile $out rc=$? $((SECONDS - t0)) s"
  [ -s "/tmp/q/$out.build.err" ] && sed "s/^/  $out: /" "/tmp/q/$out.build.err" >> "$R/s2q.log"
  return 0
}
case "${1:-}" in
  build)
    [ -f /tmp/q/fp/result.json ] || ev fp tiny &
    pids=()   # the stores the builds read, in parallel; builds without a seed read out/calib
    for seed in $(for b in $BUILDS; do seed_of "$b"; done | sort -u); do calib "$seed" & pids+=($!); done
    for b in $BUILDS; do [[ $b == *#* ]] || { calib "" & pids+=($!); break; }; done
    [ ${#pids[@]} -gt 0 ] && wait "${pids[@]}"
    for b in $BUILDS; do build "$b" & done
    wait ;;
  eval)
    while [ ! -f /tmp/q/fp/result.json ]; do sleep 2; done
    cp /tmp/q/fp/result.json "$R/fp.json"
    for e in $EVALS; do
      while [ "$(jobs -rp | wc -l)" -ge "${PAR:-4}" ]; do sleep 1; done
      s=${e%%:*}; n=${e#*:}; seed=$(seed_of "$e"); n=${n%%#*}; n="$n${seed:+-s$seed}"
      if [[ $n == *@ ]]; then n=${n%@}; ev "$s-$n" tiny --quant "$s" ${FLAGS[$n]} --reference /tmp/q/fp &
      else ev "$s-$n" "out/$s-$n" --reference /tmp/q/fp & fi
    done
    wait ;;
  *) echo "usage: bash bench/gpu/s2q.sh build|eval" >&2; exit 2 ;;
esac
log "$1 done"
