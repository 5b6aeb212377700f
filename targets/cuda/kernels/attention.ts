import { attr, type Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import { broadcastStrides } from '../../wgsl/tensor-var.ts';
import { buildCudaKernel, type CudaKernel } from '../kernel.ts';
import { cudaLiteral } from '../render.ts';
import { cudaTensor } from '../tensor-var.ts';

/** Query rows per block (one thread each) and keys per shared-memory tile. */
export const ATTENTION_TILE = { q: 64, k: 32 } as const;

/** Cooperative loads of one K tile and one V tile into shared memory (zeros past Nk). */
function tileLoads(D: number, Dv: number, Nk: number): string[] {
  const { q: TQ, k: TK } = ATTENTION_TILE;
  return [
    `  for (unsigned e = threadIdx.x; e < ${TK * D}u; e += ${TQ}u) {`,
    `    const unsigned key = k0 + e / ${D}u;`,
    `    Ks[e / ${D}u][e % ${D}u] = key < ${Nk}u ? k[(bh * ${Nk}u + key) * ${D}u + e % ${D}u] : 0.0f;`,
    '  }',
    `  for (unsigned e = threadIdx.x; e < ${TK * Dv}u; e += ${TQ}u) {`,
    `    const unsigned key = k0 + e / ${Dv}u;`,
    `    Vs[e / ${Dv}u][e % ${Dv}u] = key < ${Nk}u ? v[(bh * ${Nk}u + key) * ${Dv}u + e % ${Dv}u] : 0.0f;`,
    '  }',
  ];
}

/** One thread's online-softmax update over the tile: scores, tile max, one rescale, then P·V. */
function onlineSoftmax(D: number, Dv: number, Nk: number, scale: number, maskLine: readonly string[]): string[] {
  const { k: TK } = ATTENTION_TILE;
  return [
    '    float tmax = -VDIT_INF;',
    `    for (unsigned j = 0; j < ${TK}u; ++j) {`,
    '      const unsigned key = k0 + j;',
    '      float sc = 0.0f;',
    `      for (int d = 0; d < ${D}; ++d) sc = fmaf(qr[d], Ks[j][d], sc);`,
    `      sc *= ${cudaLiteral(scale, 'float')};`,
    ...maskLine,
    `      if (key >= ${Nk}u) sc = -VDIT_INF;`,
    '      s[j] = sc;',
    '      tmax = fmaxf(tmax, sc);',
    '    }',
    '    const float mnew = fmaxf(mrow, tmax);',
    '    if (mnew != -VDIT_INF) {',
    '      const float corr = expf(mrow - mnew);',
    '      l *= corr;',
    `      for (int d = 0; d < ${Dv}; ++d) o[d] *= corr;`,
    `      for (unsigned j = 0; j < ${TK}u; ++j) {`,
    '        const float p = expf(s[j] - mnew);',
    '        l += p;',
    `        for (int d = 0; d < ${Dv}; ++d) o[d] = fmaf(p, Vs[j][d], o[d]);`,
    '      }',
    '      mrow = mnew;',
    '    }',
  ];
}

/**
 * attention{scale}(q, k, v, mask?) flash-style in f32: each thread owns one query row (q and the output row in
 * registers), K/V tiles stream through shared memory, and the softmax is online (running max and sum, rescaled
 * once per tile), so the Nq × Nk score matrix never exists. Fully masked rows give 0/0 = NaN, as softmax does.
 */
export function lowerCudaAttention(n: Node, ctx: LowerContext): CudaKernel {
  const [B, H, Nq, D] = n.src[0]!.type.shape as [number, number, number, number];
  const Nk = n.src[1]!.type.shape[2]!;
  const Dv = n.src[2]!.type.shape[3]!;
  // K and V tiles live in static shared memory (48 KiB without opt-in) and q / o rows in registers
  if ((D + Dv) * ATTENTION_TILE.k * 4 > 48 * 1024) {
    throw new Error(`cuda: attention head dims ${D} + ${Dv} exceed the flash kernel's shared-memory tile (max 384 together)`);
  }
  const vars = n.src.map((s, i) => cudaTensor(['q', 'k', 'v', 'mask'][i]!, s.type.dtype, s.type.shape, ctx.elem));
  const mask = vars[3];
  const y = cudaTensor('y', n.type.dtype, n.type.shape, ctx.elem);
  const { q: TQ, k: TK } = ATTENTION_TILE;
  const QT = Math.ceil(Nq / TQ);
  const full = [B, H, Nq, Nk];
  const maskAt = mask ? mask.viewOffset('view', full, broadcastStrides(mask.shape, full), `(bh * ${Nq}u + qi) * ${Nk}u + key`) : '';
  const maskLine = !mask ? [] : mask.value === 'bool'
    ? [`      if (!${mask.load(maskAt)}) sc = -VDIT_INF;`]
    : [`      sc += ${mask.load(maskAt)};`];
  return buildCudaKernel({
    name: 'attention_flash', vars: [...vars, y], block: TQ, blocks: B * H * QT,
    body: [
      `const unsigned bh = blk / ${QT}u, qi = (blk % ${QT}u) * ${TQ}u + threadIdx.x;`,
      `const bool live = qi < ${Nq}u;`,
      `__shared__ float Ks[${TK}][${D}];`,
      `__shared__ float Vs[${TK}][${Dv}];`,
      `float qr[${D}], o[${Dv}], s[${TK}];`,
      `for (int d = 0; d < ${D}; ++d) qr[d] = live ? q[(bh * ${Nq}u + qi) * ${D}u + d] : 0.0f;`,
      `for (int d = 0; d < ${Dv}; ++d) o[d] = 0.0f;`,
      'float mrow = -VDIT_INF, l = 0.0f;',
      `for (unsigned k0 = 0; k0 < ${Nk}u; k0 += ${TK}u) {`,
      ...tileLoads(D, Dv, Nk),
      '  __syncthreads();',
      '  if (live) {',
      ...onlineSoftmax(D, Dv, Nk, attr<number>(n, 'scale'), maskLine),
      '  }',
      '  __syncthreads();',
      '}',
      `if (live) for (int d = 0; d < ${Dv}; ++d) ${y.store(`(bh * ${Nq}u + qi) * ${Dv}u + d`, 'o[d] / l')}`,
    ],
    flops: 2 * B * H * Nq * Nk * (D + Dv),
  });
}
