"""Parity fixture: one f32 denoiser forward of the trained tiny model in PyTorch, for vdit's reference and WGSL.

  python3 models/tiny/export_fixture.py --config models/tiny/config.json --weights models/tiny/model.safetensors \
      --out test/fixtures/tiny-parity.safetensors

Three timesteps (0.9, 0.5, 0.1), each a batch of two: class 7 and the null class (with and without the class);
inputs x ~ N(0, 1) from torch.Generator(seed 1234). Stores x_i, t_i, y_i, out_i and block0_i (block 0's output at
t = 0.5 only, i = 1). TF32 is off so the reference is true f32.
"""
import argparse
import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "torch"))
sys.path.insert(0, str(HERE))
from vdit import VDiT  # noqa: E402
from train import save_safetensors  # noqa: E402
from safetensors.torch import load_file  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cfg = json.loads(Path(args.config).read_text())
    dev = torch.device("cuda")
    model = VDiT(cfg).to(dev).eval()
    state = {k: v.float() for k, v in load_file(args.weights).items()}
    model.load_state_dict(state)
    g = torch.Generator(device="cpu").manual_seed(1234)
    out = {}
    with torch.no_grad():
        for i, tv in enumerate([0.9, 0.5, 0.1]):
            x = torch.randn(2, *cfg["video"], generator=g)
            t = torch.full((2,), tv)
            y = torch.tensor([7, 48], dtype=torch.int32)
            blk = []
            o = model(x.to(dev), t.to(dev), y.long().to(dev), block0_out=blk)
            out.update({f"x_{i}": x, f"t_{i}": t, f"y_{i}": y, f"out_{i}": o.cpu()})
            if i == 1:
                out["block0_1"] = blk[0].cpu()
    save_safetensors(Path(args.out), out, {"source": "models/tiny/export_fixture.py", "torch": torch.__version__})


if __name__ == "__main__":
    main()
