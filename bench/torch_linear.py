"""PyTorch on the linear shapes of a `vdit bench` run: bf16 F.linear (the reference GEMM), torch._int_mm
(int8) and torch._scaled_mm (FP8 e4m3, row-wise scales).

usage: python3 bench/torch_linear.py SHAPES.json [--repeat 20] [--warmup 5] [--forward FORWARD.json] > out.json
SHAPES.json is the JSON `vdit bench --json` wrote (its "shapes": m, k, n, count) or a list of [m, k, n].
Prints one JSON object: per shape the median of CUDA-event timings after warm-up, TFLOP/s / TOP/s, versions;
--forward folds an earlier bench/torch_forward.py result in (the whole-forward bf16 reference).
"""
import argparse
import json
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F


def timed(fn, warmup: int, repeat: int) -> list[float]:
    times = []
    for i in range(warmup + repeat):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        if i >= warmup:
            times.append(s.elapsed_time(e))
    return times


def bench_shape(m: int, k: int, n: int, warmup: int, repeat: int) -> dict:
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(m * 131 + k * 7 + n)
    x = torch.randn(m, k, device=dev, dtype=torch.bfloat16, generator=g)
    w = torch.randn(n, k, device=dev, dtype=torch.bfloat16, generator=g) / k ** 0.5
    b = torch.randn(n, device=dev, dtype=torch.bfloat16, generator=g)
    ops = 2 * m * k * n
    out = {"m": m, "k": k, "n": n}
    with torch.inference_mode():
        t = timed(lambda: F.linear(x, w, b), warmup, repeat)
        out["bf16"] = {"medianMs": statistics.median(t), "minMs": min(t), "tflops": ops / statistics.median(t) / 1e9}
        # _int_mm wants M > 16 and K, N multiples of 8; x[M, K] @ w[K, N] in int8 with an int32 result
        try:
            xi = torch.randint(-128, 128, (m, k), device=dev, dtype=torch.int8, generator=g)
            wi = torch.randint(-8, 8, (k, n), device=dev, dtype=torch.int8, generator=g)
            t = timed(lambda: torch._int_mm(xi, wi), warmup, repeat)
            out["int8"] = {"medianMs": statistics.median(t), "minMs": min(t), "tops": ops / statistics.median(t) / 1e9}
        except Exception as e:  # noqa: BLE001 - small shapes are refused by _int_mm; say why in the JSON
            out["int8"] = {"error": str(e).splitlines()[0]}
        # FP8 e4m3 with per-token x scales and per-channel w scales (the W4A8-FP8 layout), bf16 out: w column-major
        try:
            xf = (x * 8).to(torch.float8_e4m3fn)
            wf = (w * 8).to(torch.float8_e4m3fn)
            sx = torch.rand(m, 1, device=dev, dtype=torch.float32, generator=g) + 0.5
            sw = torch.rand(1, n, device=dev, dtype=torch.float32, generator=g) + 0.5
            t = timed(lambda: torch._scaled_mm(xf, wf.t(), scale_a=sx, scale_b=sw, out_dtype=torch.bfloat16), warmup, repeat)
            out["fp8"] = {"medianMs": statistics.median(t), "minMs": min(t), "tflops": ops / statistics.median(t) / 1e9}
        except Exception as e:  # noqa: BLE001 - shapes or builds without FP8 GEMM: say why in the JSON
            out["fp8"] = {"error": str(e).splitlines()[0]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("shapes")
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--forward", help="bench/torch_forward.py JSON to fold in")
    args = ap.parse_args()
    src = json.loads(Path(args.shapes).read_text())
    shapes = [(s["m"], s["k"], s["n"]) for s in src["shapes"]] if isinstance(src, dict) else [tuple(s) for s in src]
    results = [bench_shape(m, k, n, args.warmup, args.repeat) for m, k, n in shapes]
    report = {
        "framework": f"torch {torch.__version__}", "cuda": torch.version.cuda, "device": torch.cuda.get_device_name(),
        "repeats": args.repeat, "warmup": args.warmup,
        "timing": "CUDA events around each call, median", "shapes": results,
    }
    if args.forward and Path(args.forward).exists():
        report["forward"] = json.loads(Path(args.forward).read_text())
    print(json.dumps(report))


if __name__ == "__main__":
    main()
