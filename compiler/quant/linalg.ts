/*
 * The dense symmetric-positive-definite algebra GPTQ needs, on row-major Float64Array [K, K] matrices. K is a
 * layer's input width (hundreds to a few thousand), so plain O(K³) loops are enough.
 */

/** Lower L with A = L·Lᵀ; throws when A is not positive definite (GPTQ's damping should prevent that). */
export function choleskyLower(a: Float64Array, k: number): Float64Array {
  const l = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    let d = a[j * k + j]!;
    for (let p = 0; p < j; p++) d -= l[j * k + p]! ** 2;
    if (!(d > 0)) throw new Error(`cholesky: matrix is not positive definite (pivot ${j} is ${d})`);
    const ljj = Math.sqrt(d);
    l[j * k + j] = ljj;
    for (let i = j + 1; i < k; i++) {
      let s = a[i * k + j]!;
      const [ri, rj] = [i * k, j * k];
      for (let p = 0; p < j; p++) s -= l[ri + p]! * l[rj + p]!;
      l[ri + j] = s / ljj;
    }
  }
  return l;
}

/** L⁻¹ of a lower-triangular L (forward substitution, column by column). */
export function invertLower(l: Float64Array, k: number): Float64Array {
  const inv = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    inv[i * k + i] = 1 / l[i * k + i]!;
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let p = j; p < i; p++) s += l[i * k + p]! * inv[p * k + j]!;
      inv[i * k + j] = -s / l[i * k + i]!;
    }
  }
  return inv;
}

/** A⁻¹ of an SPD A through its Cholesky factor: (L·Lᵀ)⁻¹ = L⁻ᵀ·L⁻¹. */
export function invertSpd(a: Float64Array, k: number): Float64Array {
  const li = invertLower(choleskyLower(a, k), k);
  const out = new Float64Array(k * k);
  // (L⁻ᵀL⁻¹)_ij = Σ_p li[p,i]·li[p,j], p ≥ max(i, j) since L⁻¹ is lower
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let p = i; p < k; p++) s += li[p * k + i]! * li[p * k + j]!;
      out[i * k + j] = s;
      out[j * k + i] = s;
    }
  }
  return out;
}

/** Upper U with A = Uᵀ·U (the transpose of the lower factor). */
export function choleskyUpper(a: Float64Array, k: number): Float64Array {
  const l = choleskyLower(a, k);
  const u = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j <= i; j++) u[j * k + i] = l[i * k + j]!;
  return u;
}
