/**
 * Pipeline-cache keys (ONNX Runtime WebGPU `program_cache_key.cc` style). Two kernels with equal keys must compile
 * to the same WGSL, so everything that shapes the source goes into the key and nothing else does:
 *
 *   <KEY>    = <NAME>[<HINT>]:<WX>,<WY>,<WZ>:<DEP_0>|<DEP_1>|...
 *   <NAME>   = the kernel's name, e.g. `gemm_f32`
 *   <HINT>   = a kernel-specific variant string (tile, group size, elem), possibly empty: `[]`
 *   <W*>     = the workgroup size, padded with 1s to three dimensions
 *   <DEP_i>  = what operand i contributes to the source: its dependency level rendered as text, e.g. `f16`
 *              (type only), `f16;3` (type and rank) or `f16;2,64,64` (type and dims); empty when nothing
 *
 * Example: cacheKey({ name: 'add', hint: 'f32', workgroup: [64], inputs: ['f32;4', 'f32;1'] })
 *          === 'add[f32]:64,1,1:f32;4|f32;1'
 */
export interface CacheKeyParts {
  readonly name: string;
  readonly hint?: string;
  readonly workgroup: readonly number[];
  readonly inputs: readonly string[];
}

// separators that a part may not contain, or the key would become ambiguous
const NAME_FORBIDDEN = /[[\]:|]/;
const HINT_FORBIDDEN = /[\]]/;
const DEP_FORBIDDEN = /[|]/;

export function cacheKey(p: CacheKeyParts): string {
  if (!p.name || NAME_FORBIDDEN.test(p.name)) throw new Error(`cacheKey: bad kernel name ${JSON.stringify(p.name)}`);
  const hint = p.hint ?? '';
  if (HINT_FORBIDDEN.test(hint)) throw new Error(`cacheKey(${p.name}): hint may not contain ']': ${hint}`);
  if (p.workgroup.length < 1 || p.workgroup.length > 3 || !p.workgroup.every((w) => Number.isInteger(w) && w > 0)) {
    throw new Error(`cacheKey(${p.name}): workgroup must be 1..3 positive integers, got [${p.workgroup.join(',')}]`);
  }
  const bad = p.inputs.find((d) => DEP_FORBIDDEN.test(d));
  if (bad !== undefined) throw new Error(`cacheKey(${p.name}): input dependency may not contain '|': ${bad}`);
  const wg = [...p.workgroup, 1, 1].slice(0, 3);
  return `${p.name}[${hint}]:${wg.join(',')}:${p.inputs.join('|')}`;
}
