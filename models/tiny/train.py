"""Trains the `tiny` preset (compiler/model/presets.ts) with rectified flow on moving-shapes clips, on one GPU.

  python3 models/tiny/train.py --config CONFIG.json --out DIR [--minutes 8] [--batch 128]

Rectified flow (SD3/Wan): x_t = (1 − t)·x_0 + t·ε, the model predicts v = ε − x_0 (MSE); t ~ logit-normal(0, 1)
shifted toward noise by --t-shift (SD3's t → s·t / (1 + (s − 1)·t), default 3);
class labels dropped to the null class with p = 0.1 for classifier-free guidance. AdamW, warm-up then cosine,
bf16 autocast, EMA of the weights (the EMA is what ships). Writes DIR/model.safetensors (f16, vdit names),
DIR/train-log.jsonl and DIR/loss.png. The config is `vdit config tiny --json`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "torch"))
from data import moving_shapes_clip  # noqa: E402
from vdit import VDiT  # noqa: E402

NUM_CLASSES, NULL_CLASS = 48, 48


def make_dataset(per_class: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
    """u8 clips [N,16,32,32,3] and labels: every class × `per_class` seeds (seeds from 1000 up: seeds 0..3 are the evaluation set's noise seeds only)."""
    jobs = [(c, 1000 + s) for c in range(NUM_CLASSES) for s in range(per_class)]
    with ProcessPoolExecutor(workers) as ex:
        clips = list(ex.map(_clip, jobs, chunksize=16))
    return np.stack(clips), np.array([c for c, _ in jobs], dtype=np.int64)


def _clip(job):
    return moving_shapes_clip(*job)


ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.int32: "I32", torch.int64: "I64"}


def save_safetensors(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    """Plain safetensors writer (header JSON + raw little-endian data), written to a temp name then renamed."""
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        b = t.numpy().tobytes()
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(len(h).to_bytes(8, "little"))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def export_state(model: VDiT) -> dict[str, torch.Tensor]:
    """The shipped weights: f16 (the file must stay small); vdit reads them into its f32 graph."""
    return {k: v.half() for k, v in model.state_dict().items()}


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    p = (step - warmup) / max(1, total - warmup)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=8.0)
    ap.add_argument("--max-steps", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--per-class", type=int, default=400)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--t-shift", type=float, default=3.0,
                    help="SD3 time shift s of the logit-normal training times, t -> s t / (1 + (s-1) t): more steps at "
                         "high noise, where layout and motion direction are decided")
    ap.add_argument("--init", help="safetensors to continue from (e.g. an earlier run's EMA weights)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the training forward (eager if it fails)")
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = json.loads(Path(args.config).read_text())
    torch.manual_seed(0)
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = True

    t0 = time.time()
    clips, labels = make_dataset(args.per_class, args.workers)
    print(f"dataset: {clips.shape} in {time.time() - t0:.1f}s", flush=True)
    data = torch.from_numpy(clips).to(dev).float() / 127.5 - 1  # clipToFloat
    ys = torch.from_numpy(labels).to(dev)

    model = VDiT(cfg).to(dev)
    init_weights(model)
    if args.init:
        from safetensors.torch import load_file
        model.load_state_dict({k: v.float() for k, v in load_file(args.init).items()})
        print(f"continuing from {args.init}", flush=True)
    fwd = compiled_or_eager(model, args.compile, dev, cfg, args.batch)
    ema = VDiT(cfg).to(dev)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    ema_params, model_params = list(ema.parameters()), list(model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0, betas=(0.9, 0.99), fused=True)
    # estimate the step budget from the first steps' speed, so the run ends inside --minutes
    budget_s = args.minutes * 60 - (time.time() - t0) - 20
    log = open(out / "train-log.jsonl", "w")
    losses, step, total, start = [], 0, args.max_steps, time.time()
    while step < total:
        idx = torch.randint(0, data.shape[0], (args.batch,), device=dev)
        x0, y = data[idx], ys[idx].clone()
        y[torch.rand(args.batch, device=dev) < 0.1] = NULL_CLASS
        t = torch.sigmoid(torch.randn(args.batch, device=dev))
        t = args.t_shift * t / (1 + (args.t_shift - 1) * t)
        eps = torch.randn_like(x0)
        xt = (1 - t)[:, None, None, None, None] * x0 + t[:, None, None, None, None] * eps
        with torch.autocast("cuda", dtype=torch.bfloat16):
            v = fwd(xt, t, y)
        loss = F.mse_loss(v.float(), eps - x0)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, total, args.lr, 500)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(args.ema, (1 + step) / (10 + step))
            torch._foreach_lerp_(ema_params, model_params, 1 - decay)
        losses.append(loss.item()) if step % 10 == 0 else None
        if step == 200:
            per_step = (time.time() - start) / 200
            total = min(args.max_steps, int(budget_s / per_step))
            print(f"{per_step * 1000:.1f} ms/step → {total} steps", flush=True)
        if step % 100 == 0:
            rec = {"step": step, "loss": loss.item(), "lr": opt.param_groups[0]["lr"], "s": round(time.time() - t0, 1)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            if step % 1000 == 0:
                print(rec, flush=True)
        step += 1
    log.close()
    meta = {"steps": str(step), "batch": str(args.batch), "lr": str(args.lr), "ema": str(args.ema),
            "t_shift": str(args.t_shift),
            "dataset": f"{NUM_CLASSES} classes x {args.per_class} clips", "torch": torch.__version__}
    save_safetensors(out / "model.safetensors", export_state(ema), meta)
    plot_loss(out)
    print(f"done: {step} steps in {time.time() - t0:.0f}s", flush=True)


def compiled_or_eager(model: VDiT, want: bool, dev, cfg: dict, batch: int):
    """torch.compile fuses the many small elementwise ops of a 256-wide model; fall back to eager on any failure."""
    if not want:
        return model
    try:
        fn = torch.compile(model)
        x = torch.randn(batch, *cfg["video"], device=dev)
        y = torch.zeros(batch, dtype=torch.long, device=dev)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            fn(x, torch.rand(batch, device=dev), y).float().mean().backward()
        model.zero_grad(set_to_none=True)
        print("torch.compile: on", flush=True)
        return fn
    except Exception as e:  # noqa: BLE001 - any compiler failure means eager
        print(f"torch.compile failed ({type(e).__name__}: {e}); eager", flush=True)
        model.zero_grad(set_to_none=True)
        return model


def init_weights(model: VDiT) -> None:
    """DiT init: xavier linears, zero adaLN modulation and final layer (adaLN-Zero), normal(0.02) embeddings."""
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    torch.nn.init.normal_(model.y_embedder.embedding_table.weight, std=0.02)
    for blk in model.blocks:
        torch.nn.init.zeros_(blk.adaLN_modulation[1].weight)
        torch.nn.init.zeros_(blk.adaLN_modulation[1].bias)
    for lin in (model.final_layer.adaLN_modulation[1], model.final_layer.linear):
        torch.nn.init.zeros_(lin.weight)
        torch.nn.init.zeros_(lin.bias)


def plot_loss(out: Path) -> None:
    try:
        from plot_loss import plot
    except ImportError:
        print("matplotlib missing: no loss.png (run models/tiny/plot_loss.py elsewhere)", flush=True)
        return
    plot(str(out / "train-log.jsonl"), str(out / "loss.png"))


if __name__ == "__main__":
    main()
