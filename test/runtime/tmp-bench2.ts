import { graph, node, tensorType } from '../../ir/index.ts';
import { runReference } from '../../runtime/reference.ts';
import { randomTensor } from '../../compiler/weights/init.ts';
const rand = (d: any, s: number[], seed: number) => randomTensor(tensorType(d, s), seed);
const inp = (n: string, d: any, s: number[]) => node('input', [], { name: n }, tensorType(d, s));
const par = (n: string, d: any, s: number[]) => node('param', [], { name: n }, tensorType(d, s));
    const [B, N, D, H] = [2, 512, 256, 4];
    const h = inp('h', 'f32', [B, N, D]);
    const qkv = node('linear', [h, par('qkv', 'f32', [3 * D, D])]);
    const split = node('permute', [node('reshape', [qkv], { shape: [B, N, 3, H, D / H] })], { perm: [2, 0, 3, 1, 4] });
    const part = (i: number) => node('reshape', [node('slice', [split], { axis: 0, start: i, end: i + 1 })],
      { shape: [B, H, N, D / H] });
    const att = node('attention', [part(0), part(1), part(2)], { scale: 0.125 });
    const mlp = node('linear', [node('gelu', [node('linear', [h, par('up', 'f32', [4 * D, D])])], { approx: 'tanh' }),
      par('down', 'f32', [D, 4 * D])]);
let t0 = performance.now();
    const w = { qkv: rand('f32', [3 * D, D], 1), up: rand('f32', [4 * D, D], 2), down: rand('f32', [D, 4 * D], 3) };
const ht = rand('f32', [B, N, D], 4);
console.log('rand', performance.now() - t0);
for (let i = 0; i < 3; i++) {
    t0 = performance.now();
    runReference(graph('blk', [h], [att, mlp]), { h: ht }, { get: (n: string) => (w as any)[n], names: () => [] });
console.log('run', performance.now() - t0);
}
