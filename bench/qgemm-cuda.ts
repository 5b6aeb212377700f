/**
 * The CUDA qgemm on a model's quantized linear shapes, one runner per shape (targets/cuda/kernels/qgemm-*.ts through
 * runtime/cuda-runner.ts): CUDA-event medians → TOP/s, and a GPU correctness check of sampled rows (the first and
 * last 32 tokens, every column: the edge tiles included) against exact integer sums in JS, so a pipeline race on the
 * real card shows as a mismatch. `vdit compare` would also time these kernels, but it computes the CPU reference of
 * every row at full size (minutes per cogvideox linear) and keeps every output, so this is the one-command check.
 *
 * usage: npx tsx bench/qgemm-cuda.ts [model=cogvideox-2b] [--fp8] [--repeat 20] [--warmup 5]
 *          [--shapes-json out.json]    (then: python3 bench/torch_linear.py out.json  for PyTorch bf16 on the same shapes)
 *        --only MxKxN[,MxKxN...]: just these shapes
 *        --emulate: the CPU emulation shim instead of nvcc and a GPU (a smoke test on small models such as tiny)
 * Prints one JSON object: per shape m, k, n, count, the kernel, its tile (qgemmTile's), median ms, TOP/s and the
 * check result.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { qgemmCase } from '../compiler/bench/gemm-cases.ts';
import { modelGemmShapes, type GemmShape } from '../compiler/bench/gemm-shapes.ts';
import { loadModel } from '../compiler/models.ts';
import type { Weights } from '../compiler/weights/weights.ts';
import { decodeE4m3, isE4m3Nan } from '../ir/fp8.ts';
import { graph } from '../ir/graph.ts';
import { replace } from '../ir/node.ts';
import { CudaRunner } from '../runtime/cuda-runner.ts';
import { tensor, type Tensor } from '../runtime/tensor.ts';
import { qgemmTile } from '../targets/cuda/kernels/qgemm-pipeline.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    fp8: { type: 'boolean', default: false },
    emulate: { type: 'boolean', default: false },
    only: { type: 'string' },
    repeat: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '5' },
    'shapes-json': { type: 'string' },
  },
});
const model = positionals[0] ?? 'cogvideox-2b';
const SHIM = fileURLToPath(new URL('../test/targets/cuda/emulate/cuda-host.h', import.meta.url));
const NO_WEIGHTS: Weights = { get: () => undefined, names: () => [] };

/** Nibble j of a packed i4 row-major [N, K] tensor (rows padded to whole words), as a signed value. */
function weightAt(w: Tensor, K: number, n: number, k: number): number {
  if (w.type.dtype === 'i8') return Number(w.data[n * K + k]);
  const words = Math.ceil(K / 8);
  const word = Number(w.data[n * words + (k >> 3)]) >>> 0;
  const v = (word >>> (4 * (k & 7))) & 15;
  return v >= 8 ? v - 16 : v;
}

/** Sampled rows vs the reference's f32 steps on exact sums (s8: bit-equal; e4m3: within the f32 summation bound). */
function check(s: GemmShape, ops: readonly Tensor[], y: Tensor, fp8: boolean): { rows: number; worst: number; ok: boolean } {
  const [x, dx, w, dw, b] = ops as [Tensor, Tensor, Tensor, Tensor, Tensor];
  const rows = [...Array(Math.min(32, s.m)).keys(), ...Array.from({ length: Math.min(32, s.m) }, (_, i) => s.m - 1 - i)];
  const xv = (m: number, k: number): number => (fp8 ? decodeE4m3(Number(x.data[m * s.k + k]) & 0xff) : Number(x.data[m * s.k + k]));
  const sample = [...new Set(rows)];
  const xs = sample.map((m) => Float64Array.from({ length: s.k }, (_, k) => xv(m, k)));
  const wrow = new Float64Array(s.k);
  let worst = 0;
  for (let n = 0; n < s.n; n++) {
    for (let k = 0; k < s.k; k++) wrow[k] = weightAt(w, s.k, n, k);
    sample.forEach((m, i) => {
      let acc = 0;
      let mag = 0;
      for (let k = 0; k < s.k; k++) {
        const p = xs[i]![k]! * wrow[k]!;
        acc += p;
        mag += Math.abs(p);
      }
      const v = Math.fround(Math.fround(Math.fround(Math.fround(acc) * dx.data[m]!) * dw.data[n]!) + b.data[n]!);
      const err = Math.abs(Number(y.data[m * s.n + n]) - v);
      const tol = fp8 ? 2 ** -24 * ((s.k + 4) * mag * dx.data[m]! * dw.data[n]! + 4 * Math.abs(v) + 4) : 0;
      worst = Math.max(worst, tol ? err / tol : err);
    });
  }
  return { rows: sample.length, worst, ok: fp8 ? worst <= 1 : worst === 0 };
}

const only = values.only?.split(',');
const shapes = modelGemmShapes(loadModel(model, { weights: 'seeded' }).graph, 'w4a8')
  .filter((s) => !only || only.includes(`${s.m}x${s.k}x${s.n}`));
const results = [];
let device = '';
for (const s of shapes) {
  const c = qgemmCase(s, { abits: 8, seed: 7 });
  let operands = [...c.operands];
  let n = c.node;
  if (values.fp8) {
    if (s.wDtype !== 'i4') continue;
    // the same bytes as e4m3 codes, NaN codes moved to the largest finite one
    // (a loop, not Int8Array.from with a map function: that goes through a JS array, too long at 17776 × 7680)
    const bytes = operands[0]!.data as Int8Array;
    const codes = new Int8Array(bytes.length);
    for (let i = 0; i < bytes.length; i++) {
      const v = bytes[i]!;
      codes[i] = isE4m3Nan(v & 0xff) ? (v & 0x80 ? -2 : 0x7e) : v;
    }
    operands = [tensor(operands[0]!.type, codes), ...operands.slice(1)];
    n = replace(n, { attrs: { ...n.attrs, aformat: 'e4m3' } });
  }
  const tile = qgemmTile(s.m, s.n);
  const g = graph('qgemm', n.src, [n]);
  const inputs = Object.fromEntries(n.src.map((l, i) => [l.attrs['name'] as string, operands[i]!]));
  const runner = await CudaRunner.open(g, NO_WEIGHTS, values.emulate ? { emulate: SHIM } : {});
  try {
    device = runner.device;
    const [y] = await runner.forward(inputs);
    const t = await runner.time(inputs, Number(values.warmup), Number(values.repeat));
    const step = t.timings.find((x) => x.name.startsWith('qgemm'))!;
    const ms = step.ns / 1e6;
    results.push({
      m: s.m, k: s.k, n: s.n, count: s.count, wDtype: s.wDtype, kernel: step.name, tile: `${tile.m}x${tile.n}`,
      medianMs: ms, tops: (2 * s.m * s.k * s.n) / ms / 1e9, check: check(s, operands, y!, values.fp8!),
    });
    process.stderr.write(`${s.m}x${s.k}x${s.n}: ${ms.toFixed(3)} ms, ${results.at(-1)!.tops.toFixed(1)} TOP/s\n`);
  } finally {
    runner.close();
  }
}
if (values['shapes-json']) writeFileSync(values['shapes-json'], JSON.stringify(shapes.map((s) => [s.m, s.k, s.n])));
console.log(JSON.stringify({ model, device, fp8: values.fp8, timing: 'CUDA events, median after warm-up', shapes: results }));
