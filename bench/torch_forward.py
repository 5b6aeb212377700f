"""One denoiser forward of a vdit preset in PyTorch (bf16, SDPA attention), the outside reference for timing.

usage: python3 bench/torch_forward.py CONFIG.json [--repeat 10] [--dtype bf16]
Prints one JSON object: median/min ms over repeats after warm-up (CUDA events), peak memory, versions.
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models" / "torch"))
from vdit import VDiT  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "f16", "f32"])
    args = ap.parse_args()
    cfg = json.loads(Path(args.config).read_text())
    dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[args.dtype]
    torch.manual_seed(0)
    dev = torch.device("cuda")
    model = VDiT(cfg).to(dev, dtype).eval()
    for p in model.parameters():  # the DiT default init is fine for timing; keep values small and non-zero
        torch.nn.init.normal_(p, std=0.02)
    B, video = cfg["batch"], cfg["video"]
    x = torch.randn(B, *video, device=dev, dtype=dtype)
    t = torch.rand(B, device=dev)
    y = torch.randint(0, cfg["classes"], (B,), device=dev) if cfg.get("classes") else None
    text = torch.randn(B, cfg["text"]["tokens"], cfg["text"]["dim"], device=dev, dtype=dtype) if cfg.get("text") else None
    times = []
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode():
        for i in range(args.warmup + args.repeat):
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            out = model(x, t, y, text)
            e.record()
            torch.cuda.synchronize()
            if i >= args.warmup:
                times.append(s.elapsed_time(e))
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({
        "model": cfg["name"], "framework": f"torch {torch.__version__}", "cuda": torch.version.cuda,
        "dtype": args.dtype, "attention": "F.scaled_dot_product_attention", "params": params,
        "medianMs": statistics.median(times), "minMs": min(times), "repeats": len(times),
        "peakMemoryBytes": torch.cuda.max_memory_allocated(), "device": torch.cuda.get_device_name(),
        "outputAbsMean": out.float().abs().mean().item(),
    }))


if __name__ == "__main__":
    main()
