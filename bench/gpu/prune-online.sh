#!/usr/bin/env bash
# On the H100 (device runs): online tile selection (vdit issue 7), one call (~8 min):
#   bash bench/gpu/prune-online.sh [variant...]
# A variant is <name>:<--prune value>[:<quant>], e.g. `online0.5-t32:keep=0.5,tile=32,select=online` or
# `w4a6-sch:schedule=1/0.5/0.5/0.5,select=online:w4a6`; default: the online rows of bench/results/prune.md at tiles of
# 64, 32 and 16. The per-step schedules of bench/step-schedules.ts print as variants: pass
# `$(npx tsx bench/step-schedules.ts fz30w6r4e fz30C-.25 …)`.
# The dense clips of the standard set first (FP, and each quant setting named, RTN), then each variant
# compiled (`vdit compile tiny --quant <quant|none> --prune …`) and evaluated against its dense twin; then, alone on the
# card, the cogvideox-2b WGSL step with online selection (its `tile_select` launches included) beside dense and static
# lists. STEP=0 skips the step. Results: $OUT/results.tgz (<name>.json, <name>.compile.json, fp.json, <quant>.json,
# step-online.json). EVAL_SET=heldout evaluates on the held-out seeds (compiler/generate/eval-set.ts) instead; R=<dir>
# collects the results elsewhere than /tmp/pres (two runs in one call).
set -uo pipefail
R=${R:-/tmp/pres}
LOG=online.log
source bench/gpu/lib.sh
variants=("$@")
[ ${#variants[@]} -eq 0 ] && variants=(online0.5:keep=0.5,select=online online0.5-t32:keep=0.5,tile=32,select=online
  online0.5-t16:keep=0.5,tile=16,select=online)
ev fp tiny &
for q in $(for v in "${variants[@]}"; do IFS=: read -r _ _ quant <<< "$v"; echo "${quant}"; done | sort -u); do
  ev "$q" tiny --quant "$q" --method rtn &
done
for v in "${variants[@]}"; do
  IFS=: read -r name prune quant <<< "$v"
  timeout 200 $VDIT compile tiny --quant "${quant:-none}" --method rtn --batch 16 --prune "$prune" -o "out/$name" --json \
    > "$R/$name.compile.json" 2> >(grep -v '^Warning' | tail -3 >> "$R/$LOG")
  log "compile $name rc=$?"
done
wait
for v in "${variants[@]}"; do
  IFS=: read -r name _ quant <<< "$v"
  ev "$name" "out/$name" --reference "/tmp/q/${quant:-fp}" &
done
wait
if [ "${STEP:-1}" = 1 ]; then
  t0=$SECONDS
  timeout 420 $VDIT bench cogvideox-2b --weights seeded --no-shapes --step --builds f16,f16@keep=0.5,f16@online=0.5 --repeats 2 --warmup 1 \
    --json > "$R/step-online.json" 2> >(grep -v '^Warning' | tail -3 >> "$R/$LOG")
  log "step rc=$? $((SECONDS - t0)) s"
fi
log done
