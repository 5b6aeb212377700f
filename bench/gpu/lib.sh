# Sourced by the device-run scripts after they set R (their results folder) and LOG (the log's file name):
# the GPU machine's set-up, the project's own bins (npm itself does not travel: the working tree and .gpu must stay
# under 64 MiB), a timestamped log, the results packed into $OUT/results.tgz on exit, and `ev`, one evaluation of the
# standard set (16 clips per forward) whose result.json lands in $R/<name>.json.
source .gpu/on-gpu.sh >/dev/null 2>&1
command -v nvcc >/dev/null || export PATH=$PATH:/usr/local/cuda/bin
VDIT="node bin/vdit.js"
TSX=node_modules/.bin/tsx
mkdir -p "$R" /tmp/q out
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$R/gpu.txt"
log() { echo "[$(date +%T)] $*" | tee -a "$R/$LOG"; }
pack() { tar czf "$OUT/results.tgz" -C "$R" .; }
trap pack EXIT
trap 'exit 143' TERM
ev() {  # ev <name> <model> [eval options...]
  local name=$1 model=$2; shift 2
  local t0=$SECONDS
  timeout "${EVAL_TIMEOUT:-300}" $VDIT eval "$model" --set "${EVAL_SET:-standard}" --batch 16 --json "$@" -o "/tmp/q/$name" \
    > "/tmp/q/$name.out" 2> >(grep -v '^Warning' | tail -5 > "/tmp/q/$name.err")
  log "eval $name rc=$? $((SECONDS - t0)) s"
  [ -f "/tmp/q/$name/result.json" ] && cp "/tmp/q/$name/result.json" "$R/$name.json"
  [ -s "/tmp/q/$name.err" ] && sed "s/^/  $name: /" "/tmp/q/$name.err" >> "$R/$LOG"
  return 0
}
