#!/usr/bin/env bash
# On the H100 (device run): trains the tiny model (optionally continuing from $INIT), exports the PyTorch parity
# fixture, then evaluates the trained model with vdit's WGSL backend (Dawn, Vulkan) at the guidance scales in $CFGS
# (default 2, vdit's default).
# Results come back in $OUT, the weights split in parts under the 16 MiB transfer limit.
set -euo pipefail
export PYTHONUNBUFFERED=1
minutes=${1:-7}
mkdir -p /tmp/tiny
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"; } | tee /tmp/tiny/gpu.txt
python3 models/tiny/train.py --config models/tiny/config.json --out /tmp/tiny --minutes "$minutes" --compile \
  ${INIT:+--init "$INIT"} 2>&1 | tee /tmp/tiny/train.txt
(cd /tmp/tiny && split -b 15M model.safetensors "$OUT/model.safetensors.part-")
python3 models/tiny/export_fixture.py --config models/tiny/config.json --weights /tmp/tiny/model.safetensors \
  --out "$OUT/tiny-parity.safetensors"
tar -czf "$OUT/train.tgz" -C /tmp/tiny gpu.txt train.txt train-log.jsonl loss.png
source .gpu/on-gpu.sh
set +e
for cfg in ${CFGS:-2}; do
  timeout 100 npx vdit eval tiny --weights /tmp/tiny/model.safetensors --set standard --batch 16 --cfg $cfg \
    -o /tmp/eval-cfg$cfg 2>&1 | grep -v '^Warning' | tail -9
  cp /tmp/eval-cfg$cfg/result.json "$OUT/eval-cfg$cfg.json"
done
cp /tmp/eval-cfg${CFGS:-2}/index.html "$OUT/eval.html" 2>/dev/null || true
