"""PyTorch mirror of compiler/model/dit.ts: the same V-DiT, parameter for parameter (names, shapes, order of ops).

It is the outside reference for vdit: the H100 bf16 timing baseline (bench/torch_forward.py), and the model that the
tiny preset is trained as. The config is the JSON that `vdit config <preset> --json` prints.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(t: torch.Tensor, dim: int, scale: float = 1000.0, max_period: float = 10000.0) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    a = scale * t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(a), torch.sin(a)], dim=-1)


def rope_tables(grid, dims, theta: float, device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin [N, Dh/2] for interleaved pairs: section s rotates pair i by p_s · theta^(-2i/d_s)."""
    gt, gh, gw = grid
    coords = torch.stack(torch.meshgrid(torch.arange(gt), torch.arange(gh), torch.arange(gw), indexing="ij"), -1)
    coords = coords.reshape(-1, 3).to(device=device, dtype=torch.float64)
    angles = []
    for axis, d in enumerate(dims):
        if d == 0:
            continue
        freq = theta ** (-torch.arange(0, d, 2, dtype=torch.float64, device=device) / d)
        angles.append(coords[:, axis : axis + 1] * freq[None])
    ang = torch.cat(angles, dim=-1)
    return torch.cos(ang).float(), torch.sin(ang).float()


def sincos_table_3d(grid, hidden: int) -> torch.Tensor:
    """[1, N, hidden] fixed position table, compiler/model/embed.ts sincosTable3d: sections [t D/4 | h 3D/8 | w 3D/8],
    each [sin(p w_i), cos(p w_i)] with w_i = 10000^(-i/(d/2))."""
    if hidden % 16:
        raise ValueError(f"sincos_table_3d: hidden {hidden} must be divisible by 16")
    gt, gh, gw = grid
    coords = torch.stack(torch.meshgrid(torch.arange(gt), torch.arange(gh), torch.arange(gw), indexing="ij"), -1)
    coords = coords.reshape(-1, 3).to(torch.float64)
    parts = []
    for axis, width in enumerate((hidden // 4, 3 * hidden // 8, 3 * hidden // 8)):
        half = width // 2
        omega = 10000.0 ** (-torch.arange(half, dtype=torch.float64) / half)
        a = coords[:, axis : axis + 1] * omega[None]
        parts += [torch.sin(a), torch.cos(a)]
    return torch.cat(parts, dim=-1).float()[None]


def has_position_table(cfg: dict) -> bool:
    return cfg.get("posEmbed", cfg["rope"] is None)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, offset: int) -> torch.Tensor:
    head, tail = x[:, :, :offset], x[:, :, offset:]
    x0, x1 = tail[..., 0::2], tail[..., 1::2]
    c, s = cos.to(x.dtype), sin.to(x.dtype)
    y = torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).flatten(-2)
    return torch.cat([head, y], dim=2)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


def qk_norm(kind: str, dim: int, eps: float) -> nn.Module:
    if kind == "rmsnorm":
        return RMSNorm(dim, eps)
    if kind == "layernorm":
        return nn.LayerNorm(dim, eps=eps)
    return nn.Identity()


class Attention(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        d, self.heads = cfg["hidden"], cfg["heads"]
        self.q, self.k, self.v, self.proj = (nn.Linear(d, d) for _ in range(4))
        self.q_norm = qk_norm(cfg["qkNorm"], d // self.heads, cfg["eps"])
        self.k_norm = qk_norm(cfg["qkNorm"], d // self.heads, cfg["eps"])

    def split(self, x):
        b, n, d = x.shape
        return x.reshape(b, n, self.heads, d // self.heads).permute(0, 2, 1, 3)

    def forward(self, xq, xkv, rope=None):
        q, k, v = self.q_norm(self.split(self.q(xq))), self.k_norm(self.split(self.k(xkv))), self.split(self.v(xkv))
        if rope is not None:
            cos, sin, offset = rope
            q, k = apply_rope(q, cos, sin, offset), apply_rope(k, cos, sin, offset)
        o = F.scaled_dot_product_attention(q, k, v)
        b, h, n, dh = o.shape
        return self.proj(o.permute(0, 2, 1, 3).reshape(b, n, h * dh))


class Mlp(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(cfg["hidden"], cfg["ffn"]), nn.Linear(cfg["ffn"], cfg["hidden"])
        self.approx = cfg["gelu"]

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x), approximate=self.approx))


def modulate(x, shift, scale):
    return x * (1 + scale[:, None]) + shift[:, None]


class Block(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        d, self.cfg = cfg["hidden"], cfg
        if cfg.get("adaLN", "block") == "shared":
            self.scale_shift_table = nn.Parameter(torch.randn(6, d) * 0.02)
        else:
            self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(cfg.get("condDim", d), 6 * d))
        self.attn = Attention(cfg)
        if cfg["block"] == "factorized":
            self.attn_temp = Attention(cfg)
        if cfg["block"] in ("cross", "factorized"):
            self.cross_attn = Attention(cfg)
        if cfg["block"] == "cross":
            self.norm3 = nn.LayerNorm(d, eps=cfg["eps"])
        self.mlp = Mlp(cfg)

    def ln(self, x):
        return F.layer_norm(x, x.shape[-1:], eps=self.cfg["eps"])

    def forward(self, x, c, shared, text, ropes):
        mod = (shared + self.scale_shift_table.reshape(1, -1)) if shared is not None else self.adaLN_modulation(c)
        sh_msa, sc_msa, g_msa, sh_mlp, sc_mlp, g_mlp = mod.chunk(6, dim=1)
        if self.cfg["block"] == "factorized":
            x = self.factorized(x, sh_msa, sc_msa, g_msa, text, ropes)
        else:
            a = modulate(self.ln(x), sh_msa, sc_msa)
            x = x + self.attn(a, a, ropes.get("full")) * g_msa[:, None]
            if self.cfg["block"] == "cross":
                x = x + self.cross_attn(self.norm3(x), text)
        return x + self.mlp(modulate(self.ln(x), sh_mlp, sc_mlp)) * g_mlp[:, None]

    def factorized(self, x, sh, sc, g, text, ropes):
        b, n, d = x.shape
        gt, gh, gw = self.cfg["_grid"]
        s = gh * gw
        a = modulate(self.ln(x), sh, sc).reshape(b * gt, s, d)
        x = x + self.attn(a, a, ropes.get("spatial")).reshape(b, n, d) * g[:, None]
        u = x.reshape(b, gt, s, d).permute(0, 2, 1, 3).reshape(b * s, gt, d)
        t = self.attn_temp(u, u, ropes.get("temporal")).reshape(b, s, gt, d).permute(0, 2, 1, 3).reshape(b, n, d)
        x = x + t * g[:, None]
        return x + self.cross_attn(x, text)


class VDiT(nn.Module):
    def __init__(self, cfg: dict):
        super().__init__()
        self.cfg = cfg = dict(cfg)
        (T, H, W, C), (pt, ph, pw) = cfg["video"], cfg["patch"]
        cfg["_grid"] = (T // pt, H // ph, W // pw)
        d, dc = cfg["hidden"], cfg.get("condDim", cfg["hidden"])
        self.x_embedder = nn.Module()
        self.x_embedder.proj = nn.Linear(pt * ph * pw * C, d)
        if has_position_table(cfg):  # fixed, not learned; stored with the weights because vdit reads it as a param
            self.pos_embed = nn.Parameter(sincos_table_3d(cfg["_grid"], d), requires_grad=False)
        self.t_embedder = nn.Module()
        self.t_embedder.mlp = nn.Sequential(nn.Linear(cfg["timeFreqDim"], dc), nn.SiLU(), nn.Linear(dc, dc))
        if cfg.get("classes"):
            self.y_embedder = nn.Module()
            self.y_embedder.embedding_table = nn.Embedding(cfg["classes"], dc)
        if cfg.get("text"):
            self.text_embedder = nn.Module()
            td = cfg["text"]["dim"]
            if cfg["block"] == "joint":
                self.text_embedder.proj = nn.Linear(td, d)
            else:
                self.text_embedder.mlp = nn.Sequential(nn.Linear(td, d), nn.GELU("tanh"), nn.Linear(d, d))
        if cfg.get("adaLN", "block") == "shared":
            self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(dc, 6 * d))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg["depth"]))
        self.final_layer = nn.Module()
        self.final_layer.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dc, 2 * d))
        self.final_layer.linear = nn.Linear(d, pt * ph * pw * C)

    def ropes(self, device):
        cfg = self.cfg
        if cfg["rope"] is None:
            return {}
        dims, theta, (gt, gh, gw) = cfg["rope"]["dims"], cfg["rope"]["theta"], cfg["_grid"]
        nt = cfg["text"]["tokens"] if cfg.get("text") and cfg["block"] == "joint" else 0
        full = rope_tables((gt, gh, gw), dims, theta, device)
        sp = rope_tables((1, gh, gw), dims, theta, device)
        tm = rope_tables((gt, 1, 1), dims, theta, device)
        return {"full": (*full, nt), "spatial": (*sp, 0), "temporal": (*tm, 0)}

    def forward(self, x, t, y=None, text=None, block0_out: list | None = None):
        cfg = self.cfg
        B, (T, H, W, C), (pt, ph, pw) = x.shape[0], cfg["video"], cfg["patch"]
        gt, gh, gw = cfg["_grid"]
        h = x.reshape(B, gt, pt, gh, ph, gw, pw, C).permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(B, gt * gh * gw, -1)
        h = self.x_embedder.proj(h)
        if has_position_table(cfg):
            h = h + self.pos_embed
        c = self.t_embedder.mlp(timestep_embedding(t, cfg["timeFreqDim"]).to(h.dtype))
        if y is not None:
            c = c + self.y_embedder.embedding_table(y)
        e = None
        if text is not None:
            e = self.text_embedder.proj(text) if cfg["block"] == "joint" else self.text_embedder.mlp(text)
        nt = 0
        if e is not None and cfg["block"] == "joint":
            nt = e.shape[1]
            h = torch.cat([e, h], dim=1)
        shared = self.t_block(c) if cfg.get("adaLN", "block") == "shared" else None
        ropes = self.ropes(x.device)
        for i, blk in enumerate(self.blocks):
            h = blk(h, c, shared, e, ropes)
            if i == 0 and block0_out is not None:
                block0_out.append(h)
        h = h[:, nt:]
        shift, scale = self.final_layer.adaLN_modulation(c).chunk(2, dim=1)
        h = self.final_layer.linear(modulate(F.layer_norm(h, h.shape[-1:], eps=cfg["eps"]), shift, scale))
        return h.reshape(B, gt, gh, gw, pt, ph, pw, C).permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(B, T, H, W, C)
