import type { Attrs } from '../ir/ops.ts';

/**
 * Renders one elementwise op as an expression. `args` are already-bound names (never compound expressions, so a
 * template may repeat them freely); `ty` is the target's spelling of the compute scalar type (e.g. `f32`, `float`).
 */
export type OpRender = (args: readonly string[], ty: string, attrs: Attrs) => string;
export type OpTable = Readonly<Record<string, OpRender>>;

const SQRT_2_OVER_PI = 0.7978845608028654;
const INV_SQRT_2 = 0.7071067811865476;
const GELU_CUBIC = 0.044715;

/** A float literal every C-like language reads the same way (always has a '.' or an exponent). */
export function floatLiteral(v: number): string {
  const s = String(v);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** gelu in terms of a target's tanh and erf spellings (approx = 'tanh' or 'none'). */
export function geluWith(tanh: OpRender, erf: (x: string) => string): OpRender {
  return ([a], t, attrs) => {
    if (attrs['approx'] === 'tanh') {
      const inner = `${t}(${SQRT_2_OVER_PI}) * (${a} + ${t}(${GELU_CUBIC}) * ${a} * ${a} * ${a})`;
      return `(${t}(0.5) * ${a} * (${t}(1) + ${tanh([inner], t, {})}))`;
    }
    return `(${t}(0.5) * ${a} * (${t}(1) + ${erf(`${a} * ${t}(${INV_SQRT_2})`)}))`;
  };
}

const tanh: OpRender = ([a]) => `tanh(${a})`;

/**
 * The shared C-like op table (tinygrad CStyleLanguage): WGSL and CUDA renderers spread it and override only the
 * entries whose spelling differs. Math is written for float compute types; integer ops only use the arithmetic rows.
 */
export const C_STYLE_OPS: OpTable = {
  neg: ([a]) => `(-${a})`,
  abs: ([a]) => `abs(${a})`,
  exp: ([a]) => `exp(${a})`,
  log: ([a]) => `log(${a})`,
  sqrt: ([a]) => `sqrt(${a})`,
  rsqrt: ([a], t) => `(${t}(1) / sqrt(${a}))`,
  recip: ([a], t) => `(${t}(1) / ${a})`,
  square: ([a]) => `(${a} * ${a})`,
  tanh,
  sigmoid: ([a], t) => `(${t}(1) / (${t}(1) + exp(-${a})))`,
  relu: ([a], t) => `max(${a}, ${t}(0))`,
  silu: ([a], t) => `(${a} / (${t}(1) + exp(-${a})))`,
  sin: ([a]) => `sin(${a})`,
  cos: ([a]) => `cos(${a})`,
  gelu: geluWith(tanh, (x) => `erf(${x})`),
  add: ([a, b]) => `(${a} + ${b})`,
  sub: ([a, b]) => `(${a} - ${b})`,
  mul: ([a, b]) => `(${a} * ${b})`,
  div: ([a, b]) => `(${a} / ${b})`,
  max: ([a, b]) => `max(${a}, ${b})`,
  min: ([a, b]) => `min(${a}, ${b})`,
  pow: ([a, b]) => `pow(${a}, ${b})`,
  where: ([c, a, b]) => `(${c} ? ${a} : ${b})`,
};

/**
 * Statements of a strided view's offset function in any C-like target: `r` holds the flat index and `off` the base
 * offset, both declared by the caller; walking the axes from the last, each adds its coordinate times its stride
 * (broadcast axes, stride 0, add nothing).
 */
export function stridedOffsetLines(shape: readonly number[], strides: readonly number[]): string[] {
  const lines: string[] = [];
  for (let i = shape.length - 1; i >= 0; i--) {
    const st = strides[i]!;
    if (i === 0) {
      if (st !== 0) lines.push(`  off += r * ${st}u;`);
    } else {
      if (st !== 0) lines.push(`  off += (r % ${shape[i]}u) * ${st}u;`);
      lines.push(`  r = r / ${shape[i]}u;`);
    }
  }
  return lines;
}
