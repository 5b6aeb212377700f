import { actFormatOf } from '../../../ir/quant.ts';
import type { Node } from '../../../ir/node.ts';
import type { LowerContext } from '../../target.ts';
import { buildCudaKernel, type CudaKernel } from '../kernel.ts';
import { mmaProblem, tiledQgemm } from './qgemm-mma.ts';
import { qgemmTile, type MmaStep, type QgemmTile } from './qgemm-pipeline.ts';

/**
 * qgemm{aformat=e4m3} (W4A8-FP8) on FP8 tensor cores (sm_89+): `mma.sync.m16n8k32.row.col.f32.e4m3.e4m3.f32`.
 * Activations arrive as e4m3 bytes in the packed i8 rows; int4 weights are widened to e4m3 in registers (every
 * int4 value is exact in e4m3, so the products are the reference's). Tiles, fragment loads and the epilogue are
 * qgemm-mma.ts's (qgemm-pipeline.ts's k loop): the .e4m3 fragments of m16n8k32 are laid out as the .s8 ones, and C/D hold f32.
 * The MMA's own f32 accumulator holds the whole K sum. Measured once on an H200 (sm_90) against the CPU
 * reference: K = 8192 of all-positive terms ends within 2^−20 of Σ|x·w| of the exact sum, random signs at K = 1920
 * within 2^−23.7, i.e. f32-grade; flushing into f32 registers every 128 k (DeepSeek-V3 §3.3.2's fix for Hopper's
 * reduced-precision FP8 wgmma) gained about one bit and cost 17% of this kernel's throughput, so it is not done.
 * The sum's order differs from the reference's exactly rounded one: a float tolerance.
 */

/** The FP8 MMA (with the emulation hook of the tests) and the i4 → e4m3 widening; file-scope helpers. */
const FP8_HELPERS = `// D = A·B + D on FP8 tensor cores (PTX ISA mma.m16n8k32 .e4m3: a 4 regs, b 2 regs as .s8; c 4 f32 regs)
static __device__ __forceinline__ void vdit_mma_e4m3_16832(float* c, const unsigned* a, const unsigned* b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(VDIT_HOST_EMULATION)
  vdit_host_mma_e4m3_16832(c, a, b);  // the tests' CPU emulation of a warp (test/targets/cuda/emulate/)
#else
  __trap();  // emitted for sm_89 and newer only
#endif
}

// four signed nibbles (bits s..s+15 of w) as four e4m3 bytes: prmt looks each nibble's low 3 bits up in the codes
// of 0..7 and of -8..-1, and the nibble's sign bit picks the table per byte
static __device__ __forceinline__ unsigned vdit_i4x4_to_e4m3x4(unsigned w, int s) {
  const unsigned x = (w >> s) & 0xffffu;
  const unsigned pos = __byte_perm(0x44403800u, 0x4e4c4a48u, x & 0x7777u);
  const unsigned neg = __byte_perm(0xcaccced0u, 0xb8c0c4c8u, x & 0x7777u);
  const unsigned m = (x >> 3) & 0x1111u;
  const unsigned mask = ((m & 1u) | ((m & 0x10u) << 4) | ((m & 0x100u) << 8) | ((m & 0x1000u) << 12)) * 0xffu;
  return pos ^ ((pos ^ neg) & mask);
}`;

const MMA_E4M3: MmaStep = { acc: 'float', fn: 'vdit_mma_e4m3_16832', widen: 'vdit_i4x4_to_e4m3x4' };

/** `tile`: qgemmTile's choice for the shape unless given. */
export function lowerCudaQgemmFp8(n: Node, ctx: LowerContext, tile?: QgemmTile): CudaKernel {
  if (actFormatOf(n.attrs, 'aformat') !== 'e4m3') throw new Error('cuda: the FP8 qgemm needs aformat = e4m3');
  if (n.src[2]!.type.dtype !== 'i4') throw new Error(`cuda: FP8 qgemm needs i4 weights, got ${n.src[2]!.type.dtype}`);
  const p = mmaProblem(n, ctx);
  return buildCudaKernel(tiledQgemm(n, p, tile ?? qgemmTile(p.M, p.N), MMA_E4M3, 'qgemm_fp8_w4a8', [FP8_HELPERS]));
}
