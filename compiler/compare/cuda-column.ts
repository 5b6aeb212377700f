import type { Node } from '../../ir/node.ts';
import { lowerCudaNode } from '../../targets/cuda/select.ts';
import { DEFAULT_CAPS } from '../../targets/target.ts';
import type { CudaKernel } from '../../targets/cuda/kernel.ts';

/** What the CUDA columns say until there is a CUDA runtime to launch the emitted kernels (vdit issue 6). */
export const NEEDS_CUDA = 'needs CUDA runtime (GPU + nvcc)';

/** The CUDA side of a row: the kernel `vdit compile --target cuda` emits for the node, and why it is not measured. */
export interface CudaColumn {
  /** extern "C" entry of the emitted kernel; absent when the op has no CUDA kernel */
  readonly entry?: string;
  readonly maxAbsError: null;
  readonly ms: null;
  readonly status: string;
}

/** The CUDA kernel of node, as emit-cuda.ts lowers it (f32, default caps), or the reason there is none. */
export function cudaKernel(n: Node): CudaKernel | string {
  try {
    return lowerCudaNode(n, { elem: 'f32', caps: DEFAULT_CAPS });
  } catch (e) {
    return (e as Error).message;
  }
}

export function cudaColumn(n: Node): CudaColumn {
  const k = cudaKernel(n);
  if (typeof k === 'string') return { maxAbsError: null, ms: null, status: k };
  return { entry: k.entry, maxAbsError: null, ms: null, status: NEEDS_CUDA };
}
