import { mulberry32 } from '../../compiler/data/prng.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheKey } from '../../compiler/cache-key.ts';
import { roundF16 } from '../../compiler/weights/f16.ts';
import type { Weights } from '../../compiler/weights/weights.ts';
import { withCarries } from '../../ir/carry.ts';
import { graph, type Graph } from '../../ir/graph.ts';
import { node, type Node } from '../../ir/node.ts';
import { numel, tensorType } from '../../ir/types.ts';
import { DEFAULT_CAPS, type LowerContext } from '../../targets/target.ts';
import type { KernelSpec } from '../../targets/wgsl/kernel.ts';
import { closeDevice, openDevice, type GpuContext } from '../../runtime/device.ts';
import { graphCarry } from '../../runtime/carry.ts';
import { WgslExecutor } from '../../runtime/executor.ts';
import { aggregateTimings, formatProfile } from '../../runtime/profile.ts';
import { runReference } from '../../runtime/reference.ts';
import { tensor, type Tensor } from '../../runtime/tensor.ts';
import { planWgsl } from '../../runtime/wgsl-program.ts';

const gpu: GpuContext = await openDevice();
afterAll(() => closeDevice(gpu));

const rng = (seed: number): (() => number) => mulberry32(seed >>> 0).next;

function random(shape: number[], seed: number): Tensor {
  const r = rng(seed);
  return tensor(tensorType('f32', shape), Float32Array.from({ length: numel(shape) }, () => r() * 8 - 4));
}

const WGSL_OP: Record<string, string> = { add: '+', mul: '*', sub: '-' };
const WORKGROUP = 64;

/** A tiny stand-in for targets/wgsl/select.ts: same-shape elementwise binaries only. */
function testLower(n: Node, ctx: LowerContext): KernelSpec {
  const op = WGSL_OP[n.op];
  if (!op || n.src.length !== 2) throw new Error(`testLower: no kernel for ${n.op}`);
  const t = ctx.elem;
  const count = numel(n.type.shape);
  const source = `${t === 'f16' ? 'enable f16;\n' : ''}struct U { n: u32 }
@group(0) @binding(0) var<storage, read> a: array<${t}>;
@group(0) @binding(1) var<storage, read> b: array<${t}>;
@group(0) @binding(2) var<storage, read_write> o: array<${t}>;
@group(0) @binding(3) var<uniform> u: U;
@compute @workgroup_size(${WORKGROUP}) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < u.n) { o[g.x] = a[g.x] ${op} b[g.x]; }
}`;
  return {
    name: `${n.op}_${t}`, key: cacheKey({ name: n.op, hint: t, workgroup: [WORKGROUP], inputs: [t, t] }),
    source, entry: 'main', dispatch: [Math.ceil(count / WORKGROUP), 1, 1], uniforms: new Uint32Array([count]).buffer,
    features: t === 'f16' ? ['shader-f16'] : [], flops: count, bytes: 3 * count * (t === 'f16' ? 2 : 4),
  };
}

function mapWeights(m: Record<string, Tensor>): Weights {
  return { get: (k) => m[k], names: () => Object.keys(m) };
}

const SHAPE = [6, 37];
const f32 = tensorType('f32', SHAPE);

// out0 = reshape((x + w) * 2, [222]), out1 = (x + w) - y: a param, a const, a reshape alias and two outputs
function twoOpGraph(): Graph {
  const x = node('input', [], { name: 'x' }, f32);
  const y = node('input', [], { name: 'y' }, f32);
  const w = node('param', [], { name: 'blk.w' }, f32);
  const two = node('const', [], { value: 2 }, f32);
  const s = node('add', [x, w]);
  const out0 = node('reshape', [node('mul', [s, two])], { shape: [numel(SHAPE)] });
  return graph('two-op', [x, y], [out0, node('sub', [s, y])]);
}

function create(elem: 'f32' | 'f16', weights: Record<string, Tensor>): Promise<WgslExecutor> {
  return WgslExecutor.create(gpu, twoOpGraph(), mapWeights(weights), { elem, lower: testLower });
}

function expected(x: Tensor, y: Tensor, w: Tensor, round: (v: number) => number): [number[], number[]] {
  const s = Array.from(x.data, (v, i) => round(v + w.data[i]!));
  return [s.map((v) => round(v * 2)), s.map((v, i) => round(v - round(y.data[i]!)))];
}

describe('planWgsl', () => {
  const ctx: LowerContext = { elem: 'f32', caps: DEFAULT_CAPS };

  it('ping-pongs a chain through two temp buffers and aliases reshapes', () => {
    const x = node('input', [], { name: 'x' }, f32);
    let h: Node = x;
    for (let i = 0; i < 6; i++) h = node('add', [h, x]);
    const p = planWgsl(graph('chain', [x], [node('reshape', [h], { shape: [numel(SHAPE)] })]), ctx, testLower);
    expect(p.steps.length).toBe(6);
    expect(p.buffers.filter((b) => b.kind === 'temp').length).toBe(2);
    expect(p.unsharedTempBytes).toBe(3 * p.tempBytes);
    for (const s of p.steps) expect(s.inputBuffers).not.toContain(s.outputBuffer);
    const out = p.graph.outputs[0]!;
    expect(p.bufferOf.get(out)).toBe(p.bufferOf.get(out.src[0]!));
  });

  it('rejects a dispatch above maxComputeWorkgroupsPerDimension', () => {
    const big = tensorType('f32', [65536 * WORKGROUP + 1]);
    const x = node('input', [], { name: 'x' }, big);
    expect(() => planWgsl(graph('big', [x], [node('add', [x, x])]), ctx, testLower)).toThrow(
      /kernel add_f32 for add #\d+ f32\[4194305\]: dispatch \[65537, 1, 1\] must be three integers in 0\.\.65535/,
    );
  });

  it('rejects a tensor above maxStorageBufferBindingSize', () => {
    const x = node('input', [], { name: 'x' }, tensorType('f32', [2 ** 25 + 1]));
    expect(() => planWgsl(graph('huge', [x], [node('add', [x, x])]), ctx, testLower)).toThrow(
      /input #\d+ f32\[33554433\] needs 128\.0 MiB, above the device's maxStorageBufferBindingSize 128\.0 MiB/,
    );
  });
});

describe('WgslExecutor', () => {
  const w = random(SHAPE, 3);

  it('runs a 2-op graph with a param, a const and a reshape (f32, exact)', async () => {
    const exec = await create('f32', { 'blk.w': w });
    try {
      for (const seed of [101, 202]) {
        const [x, y] = [random(SHAPE, seed), random(SHAPE, seed + 1)];
        const { outputs, timings } = await exec.run({ x, y });
        expect(timings).toBeUndefined();
        expect(outputs[0]!.type.shape).toEqual([numel(SHAPE)]);
        const [e0, e1] = expected(x, y, w, Math.fround);
        expect(Array.from(outputs[0]!.data)).toEqual(e0);
        expect(Array.from(outputs[1]!.data)).toEqual(e1);
      }
    } finally {
      exec.dispose();
    }
  });

  const f16 = gpu.caps.hasF16 ? '' : ' [skipped: no shader-f16 on this device]';
  it.skipIf(!gpu.caps.hasF16)(`runs in f16 storage and reads back f32${f16}`, async () => {
    const exec = await create('f16', { 'blk.w': w });
    try {
      const [x, y] = [random(SHAPE, 7), random(SHAPE, 8)];
      const { outputs } = await exec.run({ x, y });
      const round = (v: number): number => roundF16(v);
      // operands are f16-rounded before the add; one f16 rounding per op, so at most 1 ulp (2^-10 relative) off
      const xr = tensor(f32, Float32Array.from(x.data, round));
      const wr = tensor(f32, Float32Array.from(w.data, round));
      const [e0, e1] = expected(xr, y, wr, round);
      const close = (got: ArrayLike<number>, want: number[]): void =>
        want.forEach((v, i) => expect(Math.abs(got[i]! - v)).toBeLessThanOrEqual(2 ** -10 * Math.max(1, Math.abs(v))));
      close(outputs[0]!.data, e0);
      close(outputs[1]!.data, e1);
    } finally {
      exec.dispose();
    }
  });

  const ts = gpu.device.features.has('timestamp-query') ? '' : ' [skipped: no timestamp-query on this device]';
  it.skipIf(!gpu.device.features.has('timestamp-query'))(`profiles every dispatch${ts}`, async () => {
    const exec = await create('f32', { 'blk.w': w });
    try {
      const { outputs, timings } = await exec.run({ x: random(SHAPE, 5), y: random(SHAPE, 6) }, { profile: true });
      expect(outputs.length).toBe(2);
      expect(timings?.map((t) => t.name).sort()).toEqual(['add_f32', 'mul_f32', 'sub_f32']);
      for (const t of timings!) expect(t.ns).toBeGreaterThanOrEqual(0);
      const rows = aggregateTimings(timings!);
      expect(rows.reduce((a, r) => a + r.percent, 0)).toBeCloseTo(rows.some((r) => r.totalMs > 0) ? 100 : 0, 6);
      const table = formatProfile(timings!);
      expect(table.split('\n')[0]).toMatch(/^kernel\s+count\s+total ms\s+%\s+GFLOP\/s\s+GB\/s$/);
      expect(table).toMatch(/^add_f32\s+1\s/m);
      expect(table).toMatch(/^total\s+3\s/m);
    } finally {
      exec.dispose();
    }
  });

  it('names missing params, missing and mistyped inputs', async () => {
    await expect(create('f32', {})).rejects.toThrow(
      "weights lack 1 param(s) of graph 'two-op': blk.w f32[6,37]",
    );
    const bad = mapWeights({ 'blk.w': random([6, 36], 1) });
    await expect(WgslExecutor.create(gpu, twoOpGraph(), bad, { elem: 'f32', lower: testLower })).rejects.toThrow(
      "param 'blk.w': expected f32[6,37], got f32[6,36]",
    );
    const exec = await create('f32', { 'blk.w': w });
    try {
      const x = random(SHAPE, 9);
      await expect(exec.run({ x })).rejects.toThrow("missing input 'y' (f32[6,37])");
      await expect(exec.run({ x, y: random([37, 6], 1) })).rejects.toThrow(
        "input 'y': expected f32[6,37], got f32[37,6]",
      );
      await expect(exec.run({ x, y: x, z: x })).rejects.toThrow('unknown inputs: z');
      const first = exec.run({ x, y: x });
      await expect(exec.run({ x, y: x })).rejects.toThrow(/not reentrant/);
      await first;
    } finally {
      exec.dispose();
    }
    await expect(exec.run({})).rejects.toThrow("executor for graph 'two-op' is disposed");
  });

  it('reports a kernel that does not compile by name', async () => {
    const broken = (n: Node, ctx: LowerContext): KernelSpec => {
      const k = testLower(n, ctx);
      if (n.op !== 'mul') return k;
      return { ...k, name: 'mul_broken', key: 'mul_broken', source: k.source.replace('u.n', 'u.m') };
    };
    await expect(
      WgslExecutor.create(gpu, twoOpGraph(), mapWeights({ 'blk.w': w }), { elem: 'f32', lower: broken }),
    ).rejects.toThrow(/kernel mul_broken: WGSL compilation failed[\s\S]*u\.m/);
  });
});

describe('WgslExecutor with the default lowering (targets/wgsl/select.ts)', () => {
  it('runs the 2-op graph exactly in f32', async () => {
    const w = random(SHAPE, 31);
    const exec = await WgslExecutor.create(gpu, twoOpGraph(), mapWeights({ 'blk.w': w }), { elem: 'f32' });
    try {
      const [x, y] = [random(SHAPE, 32), random(SHAPE, 33)];
      const { outputs } = await exec.run({ x, y });
      const [e0, e1] = expected(x, y, w, Math.fround);
      expect(Array.from(outputs[0]!.data)).toEqual(e0);
      expect(Array.from(outputs[1]!.data)).toEqual(e1);
    } finally {
      exec.dispose();
    }
  });
});

describe('WgslExecutor.step: carried state on the device', () => {
  it('starts the carries at zero, feeds each step\'s next values to the following one, and reads back the model\'s outputs only', async () => {
    // y = x + carry.a; next a = y·y, next l = l + 1 (an i32 carry, as tile lists are)
    const x = node('input', [], { name: 'x' }, tensorType('f32', [2, 3]));
    const a = node('input', [], { name: 'carry.a' }, tensorType('f32', [2, 3]));
    const l = node('input', [], { name: 'carry.l' }, tensorType('i32', [4]));
    const y = node('add', [x, a]);
    const one = node('const', [], { value: 1 }, tensorType('i32', [1]));
    const g = withCarries(graph('carried', [x], [y]), [
      { input: a, next: node('mul', [y, y]) }, { input: l, next: node('add', [l, one]) },
    ]);
    const noWeights: Weights = { get: () => undefined, names: () => [] };
    const exec = await WgslExecutor.create(gpu, g, noWeights, { elem: 'f32' });
    try {
      const state = graphCarry(g);
      const r = mulberry32(12).next;
      for (let s = 0; s < 3; s++) {
        const xs = tensor(x.type, Float32Array.from({ length: 6 }, () => 2 * r() - 1));
        const got = (await exec.step({ x: xs })).outputs;
        const held = state.inputs();
        const want = runReference(g, { x: xs, 'carry.a': tensor(a.type, held['carry.a']!), 'carry.l': tensor(l.type, held['carry.l']!) }, noWeights);
        state.update(want.map((t) => t.data));
        expect(got).toHaveLength(1);
        expect(Array.from(got[0]!.data)).toEqual(Array.from(want[0]!.data));
      }
      // after three steps the device holds l = 3: an explicit run given the host's state agrees
      const held = state.inputs();
      const probe = tensor(x.type, Float32Array.from({ length: 6 }, () => 2 * r() - 1));
      const [viaStep] = (await exec.step({ x: probe })).outputs;
      const [viaRun, , nextL] = (await exec.run({ x: probe, 'carry.a': tensor(a.type, held['carry.a']!), 'carry.l': tensor(l.type, held['carry.l']!) })).outputs;
      expect(Array.from(viaStep!.data)).toEqual(Array.from(viaRun!.data));
      expect(Array.from(nextL!.data)).toEqual([4, 4, 4, 4]);
      await expect(exec.step({ x: probe, 'carry.l': tensor(l.type, held['carry.l']!) })).rejects.toThrow(/unknown inputs: carry.l/);
    } finally {
      exec.dispose();
    }
  });
});
