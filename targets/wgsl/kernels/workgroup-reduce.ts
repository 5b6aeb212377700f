/**
 * Workgroup-wide reductions through workgroup memory (tree of halvings; no subgroup ops, so they run everywhere).
 * Call them from uniform control flow: every invocation of the workgroup must reach them.
 */
export type ReduceKind = 'sum' | 'max';

/** WGSL for `fn wg_<kind>(v: <ty>, lidx: u32) -> <ty>`, over a power-of-two workgroup of `size` invocations. */
export function workgroupReduceFn(kind: ReduceKind, ty: 'f32' | 'i32' | 'u32', size: number): string {
  if (size & (size - 1)) throw new Error(`workgroupReduceFn: size ${size} is not a power of two`);
  const combine = kind === 'sum' ? 'a + b' : 'max(a, b)';
  const buf = `wg_${kind}_buf`;
  return `var<workgroup> ${buf}: array<${ty}, ${size}>;
fn wg_${kind}(v: ${ty}, lidx: u32) -> ${ty} {
  ${buf}[lidx] = v;
  workgroupBarrier();
  for (var s = ${size / 2}u; s > 0u; s >>= 1u) {
    if (lidx < s) {
      let a = ${buf}[lidx];
      let b = ${buf}[lidx + s];
      ${buf}[lidx] = ${combine};
    }
    workgroupBarrier();
  }
  let r = ${buf}[0];
  workgroupBarrier();
  return r;
}`;
}
