"""Checks models/tiny/data.py against the TS generator's fixture; prints the hashes.

Run: python3 models/tiny/test_data.py   (exit status 1 on any mismatch)
"""

import hashlib
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "fixtures", "moving-shapes.json")


def check(label, got, want):
    ok = got == want
    print(f"{'ok  ' if ok else 'FAIL'} {label}: {got}" + ("" if ok else f" (want {want})"))
    return ok


def main():
    fx = json.load(open(FIXTURE))
    ok = True
    rng = data.Mulberry32(fx["prng"]["seed"])
    ok &= check("prng", [rng.next_u32() for _ in fx["prng"]["u32"]], fx["prng"]["u32"])
    for e in fx["clipSeed"]:
        ok &= check(f"clip_seed({e['cls']}, {e['seed']})", data.clip_seed(e["cls"], e["seed"]), e["state"])
    for e in fx["clips"]:
        digest = hashlib.sha256(data.moving_shapes_clip(e["cls"], e["seed"]).tobytes()).hexdigest()
        ok &= check(f"clip({e['cls']}, {e['seed']})", digest, e["sha256"])
    h = hashlib.sha256()
    for c in range(data.NUM_CLASSES):
        for s in fx["allClasses"]["seeds"]:
            h.update(data.moving_shapes_clip(c, s).tobytes())
    ok &= check(f"all 48 classes x seeds {fx['allClasses']['seeds']}", h.hexdigest(), fx["allClasses"]["sha256"])
    b = data.batch([0, 47], [0, 123])
    ok &= check("batch shape/dtype/range", (b.shape, str(b.dtype), bool(b.min() >= -1 and b.max() <= 1)),
                ((2, 16, 32, 32, 3), "float32", True))
    ok &= check("class_id", [data.class_id("7"), data.class_id("Right RED circle"), data.class_id(47)], [7, 0, 47])
    ok &= check("null class", (data.NULL_CLASS, data.CLASS_NAMES[0]), (48, "red circle right"))
    np.testing.assert_array_equal(b[0], data.clip_to_float(data.moving_shapes_clip(0, 0)))
    print("all ok" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
