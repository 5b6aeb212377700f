/**
 * A WGSL kernel as the runtime sees it: a program description (ONNX Runtime WebGPU style). Bindings are
 * group 0 in order: the node's operands (read-only storage), then its result (read_write storage), then one
 * uniform buffer when `uniforms` is set.
 */
export interface KernelSpec {
  /** readable name shown in timing tables, e.g. `gemm_f32_64x64` */
  readonly name: string;
  /** pipeline-cache key: name[hint]:workgroup:per-input deps (see compiler/cache-key.ts) */
  readonly key: string;
  readonly source: string;
  readonly entry: string;
  readonly dispatch: readonly [number, number, number];
  /** uniform buffer contents (16-byte aligned by the runtime), or undefined for none */
  readonly uniforms?: ArrayBuffer;
  /** features the shader `enable`s, e.g. ['shader-f16', 'subgroups'] */
  readonly features: readonly GPUFeatureName[];
  /** floating-point (or integer) operations one dispatch performs, for achieved GFLOP/s in profiles */
  readonly flops?: number;
  /** bytes one dispatch reads and writes in global memory, for achieved GB/s in profiles */
  readonly bytes?: number;
}
