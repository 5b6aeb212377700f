"""Moving-shapes clips, a byte-identical port of compiler/data/{prng,classes,moving-shapes}.ts.

Every float is a Python float or a numpy float64 array and every expression keeps the TS operand order, so the u8
clips match the TypeScript generator bit for bit (checked by models/tiny/test_data.py against
test/fixtures/moving-shapes.json). Elementwise numpy float64 +,-,*,/ and comparisons are IEEE-exact, like JS.
"""

import math
import re

import numpy as np

M32 = 0xFFFFFFFF
U32 = 4294967296.0

SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue", "yellow")
DIRECTIONS = ("right", "left", "down", "up")
NUM_CLASSES = 48
NULL_CLASS = 48
PALETTE = ((220, 40, 40), (40, 200, 60), (50, 90, 230), (230, 210, 40))
DIRECTION_STEP = ((1, 0), (-1, 0), (0, 1), (0, -1))

FRAMES, SIZE, CHANNELS = 16, 32, 3
GRID, BG_LO, BG_HI, TINT = 8, 18, 42, 3
SIZE_LO, SIZE_HI, SPEED_LO, SPEED_HI = 4, 6, 1, 2
CLEAR_STEPS = 6


def class_name(cls):
    _check_class(cls)
    return f"{COLOURS[(cls // 4) % 4]} {SHAPES[cls // 16]} {DIRECTIONS[cls % 4]}"


def _check_class(cls):
    if not isinstance(cls, (int, np.integer)) or not 0 <= cls < NUM_CLASSES:
        raise ValueError(f"class id must be an integer in [0, {NUM_CLASSES - 1}], got {cls!r}")


CLASS_NAMES = tuple(class_name(i) for i in range(NUM_CLASSES))


def class_id(name_or_id):
    """'7', 7 or 'red circle right' (any case, any word order) -> class id."""
    usage = (f"expected a class id 0..{NUM_CLASSES - 1} or a name of one colour ({'|'.join(COLOURS)}), one shape "
             f"({'|'.join(SHAPES)}) and one direction ({'|'.join(DIRECTIONS)}) in any order, e.g. 'red circle right'")
    if isinstance(name_or_id, (int, np.integer)):
        if not 0 <= name_or_id < NUM_CLASSES:
            raise ValueError(f"invalid class {name_or_id}: {usage}")
        return int(name_or_id)
    text = str(name_or_id).strip()
    if re.fullmatch(r"\d+", text):
        return class_id(int(text))
    words = [w for w in re.split(r"[\s_,-]+", text.lower()) if w]
    pick = lambda table: [table.index(w) for w in words if w in table]  # noqa: E731
    s, c, d = pick(SHAPES), pick(COLOURS), pick(DIRECTIONS)
    if len(words) != 3 or len(s) != 1 or len(c) != 1 or len(d) != 1:
        raise ValueError(f"invalid class {name_or_id!r}: {usage}")
    return s[0] * 16 + c[0] * 4 + d[0]


def _imul(a, b):
    return (a * b) & M32


def fmix32(h):
    h &= M32
    h ^= h >> 16
    h = _imul(h, 0x85EBCA6B)
    h ^= h >> 13
    h = _imul(h, 0xC2B2AE35)
    h ^= h >> 16
    return h


def clip_seed(cls, seed):
    _check_u32("seed", seed)
    return fmix32(seed ^ fmix32((cls + 0x9E3779B9) & M32))


def _check_u32(name, v):
    if not isinstance(v, (int, np.integer)) or not 0 <= v <= M32:
        raise ValueError(f"{name} must be an integer in [0, 2^32), got {v!r}")


class Mulberry32:
    """mulberry32; see compiler/data/prng.ts for the recurrence."""

    def __init__(self, seed):
        _check_u32("seed", seed)
        self.a = int(seed)

    def next_u32(self):
        self.a = (self.a + 0x6D2B79F5) & M32
        a = self.a
        t = _imul(a ^ (a >> 15), a | 1)
        t = ((t + _imul(t ^ (t >> 7), t | 61)) & M32) ^ t
        return (t ^ (t >> 14)) & M32

    def next(self):
        return self.next_u32() / U32

    def range(self, lo, hi):
        return lo + (hi - lo) * self.next()


def _background(rng):
    tint = [rng.range(-TINT, TINT) for _ in range(3)]
    grid = [rng.range(BG_LO, BG_HI) for _ in range(GRID * GRID)]
    out = np.zeros((SIZE, SIZE, CHANNELS), np.uint8)
    for y in range(SIZE):
        gy = ((y + 0.5) / SIZE) * (GRID - 1)
        y0 = math.floor(gy)
        fy = gy - y0
        for x in range(SIZE):
            gx = ((x + 0.5) / SIZE) * (GRID - 1)
            x0 = math.floor(gx)
            fx = gx - x0
            g = lambda r, c: grid[r * GRID + c]  # noqa: E731
            top = g(y0, x0) + (g(y0, x0 + 1) - g(y0, x0)) * fx
            bot = g(y0 + 1, x0) + (g(y0 + 1, x0 + 1) - g(y0 + 1, x0)) * fx
            v = top + (bot - top) * fy
            for c in range(CHANNELS):
                out[y, x, c] = math.floor(v + tint[c] + 0.5)
    return out


def _trajectory(direction, rng):
    size = rng.range(SIZE_LO, SIZE_HI)
    speed = rng.range(SPEED_LO, SPEED_HI)
    lo, hi = size, SIZE - size
    cross = rng.range(lo, hi)
    u = rng.next()
    sx, sy = DIRECTION_STEP[direction]
    forward = sx + sy > 0
    along = lo + (hi - CLEAR_STEPS * speed - lo) * u if forward else hi - (hi - CLEAR_STEPS * speed - lo) * u
    pos = [along, cross] if sx != 0 else [cross, along]
    vel = [sx * speed, sy * speed]
    states = []
    for _ in range(FRAMES):
        states.append((pos[0], pos[1], size))
        for a in range(2):
            p = pos[a] + vel[a]
            if p > hi:
                p = hi - (p - hi)
                vel[a] = -vel[a]
            elif p < lo:
                p = lo + (lo - p)
                vel[a] = -vel[a]
            pos[a] = p
    return states


_CENTRES = np.arange(SIZE, dtype=np.float64) + 0.5


def _inside(shape, dx, dy, s):
    if shape == 0:
        return dx * dx + dy * dy <= s * s
    ax = np.abs(dx)
    if shape == 1:
        return (ax <= s) & (np.abs(dy) <= s)
    return (dy <= s) & (2 * ax <= dy + s)


def moving_shapes_clip(cls, seed):
    """u8 [16, 32, 32, 3] clip, identical to movingShapesClip(cls, seed) in TS."""
    _check_class(cls)
    rng = Mulberry32(clip_seed(int(cls), int(seed)))
    shape, colour, direction = cls // 16, (cls // 4) % 4, cls % 4
    bg = _background(rng)
    rgb = np.array(PALETTE[colour], np.uint8)
    out = np.empty((FRAMES, SIZE, SIZE, CHANNELS), np.uint8)
    for t, (cx, cy, size) in enumerate(_trajectory(direction, rng)):
        dx = (_CENTRES - cx)[None, :]
        dy = (_CENTRES - cy)[:, None]
        hit = _inside(shape, dx, dy, size)
        out[t] = np.where(hit[:, :, None], rgb, bg)
    return out


def clip_to_float(u8):
    return (u8.astype(np.float64) / 127.5 - 1).astype(np.float32)


def batch(classes, seeds):
    """float32 [B, 16, 32, 32, 3] in [-1, 1] for paired class ids and seeds."""
    classes, seeds = list(classes), list(seeds)
    if len(classes) != len(seeds):
        raise ValueError(f"batch needs as many seeds as classes, got {len(classes)} and {len(seeds)}")
    if not classes:
        return np.zeros((0, FRAMES, SIZE, SIZE, CHANNELS), np.float32)
    return np.stack([clip_to_float(moving_shapes_clip(int(c), int(s))) for c, s in zip(classes, seeds)])
