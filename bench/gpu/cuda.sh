#!/usr/bin/env bash
# On the H100 (device runs): the CUDA backend (vdit issue 6), two calls on one warm machine:
#   bash bench/gpu/cuda.sh tiny    (~5 min) the tiny model W4A8 on the CUDA runner vs WGSL (one forward each with
#       --check against the CPU reference, 20 timed; 8 clips sampled on both, PSNR between them), `vdit compare tiny
#       --quant w4a8`, and the tiny model's quality at W4A8 and W4A8-FP8 on the standard set vs FP.
#   bash bench/gpu/cuda.sh kernels (~4 min) the CUDA qgemm (int8 and FP8 activations) on every cogvideox-2b linear
#       shape (bench/qgemm-cuda.ts, sampled rows checked on the card) beside PyTorch bf16 F.linear, _int_mm and
#       _scaled_mm on the same shapes (bench/torch_linear.py), then cogvideox-2b self-attention on CUDA: f32 kernel,
#       f16 tensor-core kernel, and sparse at keep 0.5 / 0.25 (bench/attention-sparse-cuda.ts).
#   bash bench/gpu/cuda.sh step    (~7 min) cogvideox-2b self-attention on CUDA (f32, mma dense, sparse 0.5 / 0.25;
#       bench/attention-sparse-cuda.ts), then one denoiser forward, seeded weights: CUDA W4A8 dense and with online
#       tile selection at keep 0.5 (per-kernel CUDA-event tables), and PyTorch bf16 (eager, SDPA;
#       bench/torch_forward.py) on the same card.
#   bash bench/gpu/cuda.sh online  (~8 min) online selection on CUDA: bench/attention-sparse-cuda.ts --online (pooling +
#       tile_select + per-query-tile sparse kernel at query tiles of 64 and 128, beside dense), then cogvideox-2b W4A8
#       forwards: dense and online keep 0.5 with query tiles of 128 (8-warp blocks).
#   bash bench/gpu/cuda.sh residual (~2.5 min) frozen lists on CUDA: bench/attention-sparse-cuda.ts --residual (the
#       pruned, refresh and dense steps of cache=frozen at keep 0.25 / 0.125, query tiles of 64 and 128, beside dense,
#       and every per-step schedule of bench/step-schedules.ts summed over its 30 steps).
#   bash bench/gpu/cuda.sh run     (~8 min) a whole 30-step sampling run of cogvideox-2b W4A8 on the CUDA runner,
#       dense against the recommended schedule with its carried state on the device (bench/prune-run-cuda.ts).
# Results: $OUT/results.tgz.
set -uo pipefail
R=/tmp/cres
LOG=cuda.log
source bench/gpu/lib.sh
nvcc --version | tail -1 > "$R/nvcc.txt" 2>&1
runj() {  # runj <name> <timeout> <vdit args...>: JSON to $R/<name>.json, the stderr tail to the log
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" $VDIT "$@" --json > "$R/$name.json" 2> >(grep -v '^Warning' | tail -4 > "/tmp/q/$name.err")
  log "$name rc=$? $((SECONDS - t0)) s"
  [ -s "/tmp/q/$name.err" ] && sed "s/^/  $name: /" "/tmp/q/$name.err" >> "$R/cuda.log"
  return 0
}
ev_tiny() {  # ev_tiny <name> <eval args...>: the tiny preset, result as $R/<name>.eval.json
  local name=$1; shift
  runj "$name" 300 eval tiny --set standard --batch 16 -o "/tmp/q/$name" "$@"
  [ -f "/tmp/q/$name/result.json" ] && cp "/tmp/q/$name/result.json" "$R/$name.eval.json"
  return 0
}
case "${1:-}" in
  tiny)
    runj tiny-cuda 200 run tiny --quant w4a8 --backend cuda --check --profile --repeat 20
    runj tiny-wgsl 200 run tiny --quant w4a8 --backend wgsl --check --profile --repeat 20
    t0=$SECONDS
    timeout 240 $TSX bench/cuda-vs-wgsl.ts --quant w4a8 -o "$R/cuda-vs-wgsl.json" > /dev/null 2> >(grep -v '^Warning' | tail -4 >> "$R/cuda.log")
    log "cuda-vs-wgsl rc=$? $((SECONDS - t0)) s"
    ev_tiny fp
    ev_tiny w4a8 --quant w4a8 --reference /tmp/q/fp &
    ev_tiny w4a8-fp8 --quant w4a8-fp8 --reference /tmp/q/fp &
    runj compare-tiny 200 compare tiny --quant w4a8
    wait ;;
  kernels)
    t0=$SECONDS
    timeout 200 $TSX bench/qgemm-cuda.ts cogvideox-2b --shapes-json "$R/shapes.json" > "$R/qgemm-cuda.json" 2>> "$R/cuda.log"
    log "qgemm s8 rc=$? $((SECONDS - t0)) s"
    timeout 150 $TSX bench/qgemm-cuda.ts cogvideox-2b --fp8 > "$R/qgemm-cuda-fp8.json" 2>> "$R/cuda.log"
    log "qgemm fp8 rc=$? $((SECONDS - t0)) s"
    timeout 120 python3 bench/torch_linear.py "$R/shapes.json" > "$R/torch-linear.json" 2> >(tail -3 >> "$R/cuda.log")
    log "torch linear rc=$? $((SECONDS - t0)) s"
    timeout 200 $TSX bench/attention-sparse-cuda.ts cogvideox-2b --batch 2 -o "$R/attention-cuda.json" 2> >(grep -v '^Warning' | tail -5 >> "$R/cuda.log")
    log "attention rc=$? $((SECONDS - t0)) s" ;;
  step)
    t0=$SECONDS
    timeout 100 $TSX bench/attention-sparse-cuda.ts cogvideox-2b --batch 2 -o "$R/attention-cuda.json" 2> >(grep -v '^Warning' | tail -5 >> "$R/cuda.log")
    log "attention rc=$? $((SECONDS - t0)) s"
    runj cog-cuda-w4a8 200 run cogvideox-2b --weights seeded --quant w4a8 --backend cuda --profile --repeat 3
    python3 bench/torch_forward.py bench/configs/cogvideox-2b.json --repeat 10 > "$R/torch-bf16.json" 2> >(tail -3 >> "$R/cuda.log")
    log "torch rc=$?"
    runj cog-cuda-w4a8-online0.5 200 run cogvideox-2b --weights seeded --quant w4a8 --prune keep=0.5,select=online --backend cuda --profile --repeat 3 ;;
  online)
    t0=$SECONDS
    timeout 200 $TSX bench/attention-sparse-cuda.ts cogvideox-2b --online -o "$R/attention-online-cuda.json" 2> >(grep -v '^Warning' | tail -8 >> "$R/cuda.log")
    log "attention online rc=$? $((SECONDS - t0)) s"
    runj cog-cuda-w4a8 200 run cogvideox-2b --weights seeded --quant w4a8 --backend cuda --profile --repeat 3
    runj cog-cuda-w4a8-online0.5-q128 200 run cogvideox-2b --weights seeded --quant w4a8 --prune keep=0.5,select=online,qtile=128 --backend cuda --profile --repeat 3 ;;
  residual)
    t0=$SECONDS
    timeout 300 $TSX bench/attention-sparse-cuda.ts cogvideox-2b --residual -o "$R/attention-residual-cuda.json" 2> >(grep -v '^Warning' | tail -60 >> "$R/cuda.log")
    log "attention residual rc=$? $((SECONDS - t0)) s" ;;
  run)
    t0=$SECONDS
    timeout 580 $TSX bench/prune-run-cuda.ts cogvideox-2b --schedule "${SCHED:-lz30w7r3e}" -o "$R/run-cuda-${SCHED:-lz30w7r3e}.json" 2> >(grep -v '^Warning' | tail -4 >> "$R/cuda.log")
    log "sampling run rc=$? $((SECONDS - t0)) s" ;;
  *) echo "usage: bash bench/gpu/cuda.sh tiny|kernels|step|online|residual|run" >&2; exit 2 ;;
esac
log "$1 done"
