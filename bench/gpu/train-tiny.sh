#!/usr/bin/env bash
# On the H100 (device run): trains the tiny model, exports the PyTorch parity fixture, times PyTorch on cogvideox-2b.
set -euo pipefail
export PYTHONUNBUFFERED=1
minutes=${1:-7.5}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$OUT/gpu.txt"
python3 -c "import matplotlib; print('matplotlib', matplotlib.__version__)" || echo "no matplotlib"
python3 models/tiny/train.py --config models/tiny/config.json --out /tmp/smoke --max-steps 30 --per-class 2 --minutes 1
python3 models/tiny/train.py --config models/tiny/config.json --out "$OUT/tiny" --minutes "$minutes" 2>&1 | tee "$OUT/train.txt"
python3 models/tiny/export_fixture.py --config models/tiny/config.json --weights "$OUT/tiny/model.safetensors" \
  --out "$OUT/tiny-parity.safetensors"
python3 bench/torch_forward.py bench/configs/cogvideox-2b.json | tee "$OUT/torch-cogvideox-2b.json"
