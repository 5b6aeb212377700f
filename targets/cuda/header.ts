/**
 * `vdit_cuda.cuh`: the helpers every emitted kernel includes (one copy, so each .cu stays about its op). All
 * functions are `static` so any number of kernels may share one translation unit.
 */
export const CUDA_HEADER_FILE = 'vdit_cuda.cuh';

/** The tensor-core helper qgemm uses (sm_80+): one 16×8×32 s8·s8 → s32 MMA per call, accumulating in place. */
const MMA = `
// D = A·B + D on INT8 tensor cores (PTX ISA: mma.m16n8k32 .s8 fragments; a: 4 regs, b: 2 regs, c: 4 regs)
static __device__ __forceinline__ void vdit_mma_s8_16832(int* c, const unsigned* a, const unsigned* b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\\n"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(VDIT_HOST_EMULATION)
  vdit_host_mma_s8_16832(c, a, b);  // the tests' CPU emulation of a warp (test/targets/cuda/emulate/)
#else
  __trap();  // emitted for sm_80 and newer only
#endif
}
`;

/**
 * cp.async (sm_80+) for the pipelined qgemm: global → shared copies of 4, 8 or 16 bytes that zero-fill the
 * destination when !pred (src is not read then), grouped by commit and awaited by wait<N>. The emulation copies
 * synchronously, so commit and wait have nothing left to do there.
 */
const CP_ASYNC = `
template <int B>
static __device__ __forceinline__ void vdit_cp_async(void* dst, const void* src, bool pred) {
  static_assert(B == 4 || B == 8 || B == 16, "cp.async copies 4, 8 or 16 bytes");
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  if constexpr (B == 16) {  // .cg (L2 only) takes 16-byte copies; smaller ones go through L1 (.ca)
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\\n" ::"r"(s), "l"(src), "r"(pred ? 16 : 0) : "memory");
  } else {
    asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\\n" ::"r"(s), "l"(src), "n"(B), "r"(pred ? B : 0) : "memory");
  }
#elif defined(VDIT_HOST_EMULATION)
  if (pred) std::memcpy(dst, src, B);
  else std::memset(dst, 0, B);
#else
  __trap();  // emitted for sm_80 and newer only
#endif
}

static __device__ __forceinline__ void vdit_cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\\n" ::: "memory");
#endif
}

// wait until at most N committed groups are still in flight (this thread's copies; a barrier makes them the block's)
template <int N>
static __device__ __forceinline__ void vdit_cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\\n" ::"n"(N) : "memory");
#endif
}
`;

/**
 * The f16 tensor-core helpers of the attention kernels (sm_80+): f32 pairs to packed halves, ldmatrix from shared
 * memory (plain and transposed), and one 16×8×16 f16·f16 → f32 MMA per call, accumulating in place.
 */
const MMA_F16 = `
// two f32 to one f16x2 word, round to nearest even; lo in the low half (the lower column of an mma fragment)
static __device__ __forceinline__ unsigned vdit_f16x2(float lo, float hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  unsigned r;
  asm("cvt.rn.f16x2.f32 %0, %1, %2;\\n" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
#elif defined(VDIT_HOST_EMULATION)
  return vdit_host_f16x2(lo, hi);
#else
  __trap();
  return 0u;
#endif
}

// four 8×8 b16 matrices from shared memory: lanes 8m..8m+7 give the 16-byte rows of matrix m, r[m] receives it in
// the mma fragment layout (lane l: row l/4, columns 2(l%4)..+1); trans: transposed (column l/4, rows 2(l%4)..+1)
static __device__ __forceinline__ void vdit_ldmatrix_x4(unsigned* r, const void* row) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
#elif defined(VDIT_HOST_EMULATION)
  vdit_host_ldmatrix_x4(r, row, false);
#else
  __trap();
#endif
}

static __device__ __forceinline__ void vdit_ldmatrix_x4_trans(unsigned* r, const void* row) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const unsigned a = static_cast<unsigned>(__cvta_generic_to_shared(row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(a));
#elif defined(VDIT_HOST_EMULATION)
  vdit_host_ldmatrix_x4(r, row, true);
#else
  __trap();
#endif
}

// D = A·B + D on f16 tensor cores, f32 accumulators (PTX ISA: mma.m16n8k16 .f16 fragments; a: 4 regs, b: 2, c: 4)
static __device__ __forceinline__ void vdit_mma_f16_16816(float* c, const unsigned* a, const unsigned* b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(VDIT_HOST_EMULATION)
  vdit_host_mma_f16_16816(c, a, b);
#else
  __trap();
#endif
}
`;

export const CUDA_HEADER = `// generated by vdit: shared helpers of the emitted CUDA kernels
#pragma once
#include <cstdint>

// every launch of the runner (targets/cuda/runner.ts) goes through this macro: the CPU emulation of the tests
// (test/targets/cuda/emulate/cuda-host.h) defines its own first, so one runner.cu builds with nvcc and with g++
#ifndef VDIT_LAUNCH
#define VDIT_LAUNCH(entry, grid, bx, by, ...) entry<<<dim3(grid), dim3(bx, by)>>>(__VA_ARGS__)
#endif

#define VDIT_INF __int_as_float(0x7f800000)
#define VDIT_NAN __int_as_float(0x7fffffff)

static __device__ __forceinline__ float vdit_warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

static __device__ __forceinline__ float vdit_warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// block-wide reductions; blockDim.x is a multiple of 32 and every thread gets the result
static __device__ __forceinline__ float vdit_block_sum(float v) {
  __shared__ float part[32];
  v = vdit_warp_sum(v);
  __syncthreads();  // a previous call may still be reading part
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
  __syncthreads();
  return vdit_warp_sum((threadIdx.x & 31) < (blockDim.x >> 5) ? part[threadIdx.x & 31] : 0.0f);
}

static __device__ __forceinline__ float vdit_block_max(float v) {
  __shared__ float part[32];
  v = vdit_warp_max(v);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
  __syncthreads();
  return vdit_warp_max((threadIdx.x & 31) < (blockDim.x >> 5) ? part[threadIdx.x & 31] : -VDIT_INF);
}

// square-and-multiply with wrapping products; negative exponents truncate toward zero like the reference
static __device__ __forceinline__ int vdit_ipow(int a, int b) {
  if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0);
  unsigned r = 1u, x = unsigned(a), e = unsigned(b);
  for (; e != 0u; e >>= 1) {
    if (e & 1u) r *= x;
    x *= x;
  }
  return int(r);
}

// four signed nibbles (bits s..s+15 of w, nibble 0 lowest) widened to four s8 lanes of one word, for mma.s8: prmt
// doubles the two bytes, a mask keeps nibble i in byte i, and (n ^ 8) + 0x78 ^ 0x80 sign-extends without borrows
static __device__ __forceinline__ unsigned vdit_i4x4_to_s8x4(unsigned w, int s) {
  const unsigned y = __byte_perm(w >> s, 0u, 0x1100u);
  const unsigned x = (y & 0x000f000fu) | ((y >> 4) & 0x0f000f00u);
  return ((x ^ 0x08080808u) + 0x78787878u) ^ 0x80808080u;
}
` + MMA + CP_ASYNC + MMA_F16;
