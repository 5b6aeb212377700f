import type { Tensor } from '../../runtime/tensor.ts';

/**
 * Where a graph's `param` nodes get their values, by name. Sources are lazy so that a multi-gigabyte preset can
 * stream weights to the GPU one tensor at a time instead of holding them all on the host.
 */
export interface Weights {
  /** the tensor for a param, or undefined when this source does not hold it */
  get(name: string): Tensor | undefined;
  /** names this source can provide (for error messages and listings) */
  names(): Iterable<string>;
}
