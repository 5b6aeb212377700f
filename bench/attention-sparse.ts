// Times dense attention against block-sparse attention (sparse_attention, kept K/V tiles only) on a preset's
// self-attention shape, one WGSL kernel each, GPU timestamps, median of repeats after warm-up. Run on the GPU:
//   npx tsx bench/attention-sparse.ts [preset=cogvideox-2b] [--tile 64] [--repeats 3] [--elem f16] [-o result.json]
// The kept tiles are spread evenly (time depends on how many, not which); which tiles to keep for quality is the
// prune-tokens pass's job, checked on the tiny model. Inputs are seeded uniform values, never zeros.
// On CUDA (f32 vs f16 tensor-core vs sparse tensor-core kernels): bench/attention-sparse-cuda.ts.
import { renameSync, writeFileSync } from 'node:fs';
import { timeKernel } from '../compiler/bench/time-kernel.ts';
import { mulberry32 } from '../compiler/data/prng.ts';
import { attentionArgs } from './attention-args.ts';
import { node } from '../ir/node.ts';
import { tensorType } from '../ir/types.ts';
import { closeDevice, openDevice } from '../runtime/device.ts';
import { tensor, type Tensor } from '../runtime/tensor.ts';
import { lowerNode } from '../targets/wgsl/select.ts';

const { preset, h, n, hd, opt } = attentionArgs(process.argv.slice(2));
const b = 2;
const tile = Number(opt('--tile', '64'));
const repeats = Number(opt('--repeats', '3'));
const out = opt('-o', '');

const gpu = await openDevice();
(globalThis as { vditGpu?: unknown }).vditGpu = gpu;
const elem = opt('--elem', gpu.caps.hasF16 ? 'f16' : 'f32') as 'f16' | 'f32';
const r = mulberry32(7);
const rand = (shape: number[]): Tensor => tensor(tensorType('f32', shape), Float32Array.from({ length: shape.reduce((a, c) => a * c, 1) }, () => 2 * r.next() - 1));
const [q, k, v] = [rand([b, h, n, hd]), rand([b, h, n, hd]), rand([b, h, n, hd])];
const leaf = (name: string, t: Tensor) => node('input', [], { name }, t.type);
const scale = 1 / Math.sqrt(hd);
const tiles = Math.ceil(n / tile);
const rows: { keep: number; tiles: number; ms: number; speedup?: number; kernel: string }[] = [];
let dense = 0;
for (const keep of [1, 0.75, 0.5, 0.25]) {
  let spec;
  let operands: Tensor[];
  let kept = tiles;
  if (keep === 1) {
    spec = lowerNode(node('attention', [leaf('q', q), leaf('k', k), leaf('v', v)], { scale }), { elem, caps: gpu.caps });
    operands = [q, k, v];
  } else {
    kept = Math.ceil(keep * tiles);
    const list = tensor(tensorType('i32', [kept]), Int32Array.from({ length: kept }, (_, i) => Math.floor((i * tiles) / kept)));
    const sparse = node('sparse_attention', [leaf('q', q), leaf('k', k), leaf('v', v), leaf('tiles', list)], { scale, tile });
    spec = lowerNode(sparse, { elem, caps: gpu.caps });
    operands = [q, k, v, list];
  }
  const t = await timeKernel(gpu, spec, operands, tensorType('f32', [b, h, n, hd]), { warmup: 1, repeats, elem });
  if (keep === 1) dense = t.medianMs;
  rows.push({ keep, tiles: kept, ms: t.medianMs, kernel: spec.name, ...(keep < 1 ? { speedup: dense / t.medianMs } : {}) });
  console.error(`keep ${keep}: ${kept}/${tiles} tiles, ${t.medianMs.toFixed(1)} ms (${t.clock})`);
}
const device = gpu.info.adapter.description || gpu.info.adapter.device;
closeDevice(gpu);
const md = [
  `${preset} self-attention [B=${b}, H=${h}, N=${n}, D=${hd}], ${elem} storage, tile ${tile} keys, ${device}; ` +
    `median of ${repeats} after 1 warm-up, GPU timestamps`,
  '', '| keep | K/V tiles | kernel | ms | vs dense |', '|---:|---:|---|---:|---:|',
  ...rows.map((x) => `| ${x.keep} | ${x.tiles}/${tiles} | ${x.kernel} | ${x.ms.toFixed(1)} | ${x.speedup ? `${x.speedup.toFixed(2)}×` : '–'} |`),
].join('\n');
console.log(md);
if (out) {
  writeFileSync(`${out}.tmp`, JSON.stringify({ preset, b, h, n, hd, elem, tile, device, rows }, null, 1));
  renameSync(`${out}.tmp`, out);
}
