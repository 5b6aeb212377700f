// CPU emulation of the CUDA subset the emitted kernels use, so their index math runs under g++ without a GPU: a
// block is blockDim.x std::threads run to completion before the next block, so function-scope `static` is block
// shared memory. __syncthreads is a block barrier; warp shuffles and the warp-wide mma exchange values through
// block-wide slots between two barriers, which is exact because the kernels call them uniformly across the block.
// mma follows the PTX fragment layouts (m16n8k32 .s8: A reg r = (row g + 8(r&1), k 16(r>>1) + 4t..),
// B reg r = (n g, k 16r + 4t..), C reg r = (row g + 8(r>>1), n 2t + (r&1)); g = lane/4, t = lane%4).
#pragma once
#include <barrier>
#include <cmath>
#include <math.h>
#include <cstdint>
#include <cstdlib>
#include <cstring>

struct vdit_dim3 { unsigned x = 0, y = 0, z = 0; };
inline thread_local vdit_dim3 threadIdx;
inline vdit_dim3 blockIdx, blockDim;

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __shared__ static
#define __constant__

inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
// PTX cvt.rni saturates and maps NaN to 0
inline int __float2int_rn(float f) {
  if (std::isnan(f)) return 0;
  return f >= 2147483648.0f ? 2147483647 : f <= -2147483648.0f ? (-2147483647 - 1) : int(std::nearbyint(f));
}
inline unsigned __float2uint_rn(float f) {
  if (std::isnan(f) || f <= 0.0f) return 0u;
  return f >= 4294967296.0f ? 4294967295u : unsigned(std::nearbyint(f));
}
inline unsigned __vsub4(unsigned a, unsigned b) {
  unsigned r = 0;
  for (int i = 0; i < 32; i += 8) r |= (((a >> i) - (b >> i)) & 0xffu) << i;
  return r;
}
inline void __trap() { std::abort(); }

inline std::barrier<>* vdit_block_barrier = nullptr;
inline void __syncthreads() { vdit_block_barrier->arrive_and_wait(); }

inline unsigned vdit_shfl_slots[1024];
template <class T> T __shfl_xor_sync(unsigned, T v, int lane_mask) {
  static_assert(sizeof(T) == 4, "32-bit shuffles only");
  unsigned bits;
  std::memcpy(&bits, &v, 4);
  vdit_shfl_slots[threadIdx.x] = bits;
  __syncthreads();
  bits = vdit_shfl_slots[threadIdx.x ^ unsigned(lane_mask)];
  __syncthreads();
  T out;
  std::memcpy(&out, &bits, 4);
  return out;
}

struct VditWarpFragments { unsigned a[32][4]; unsigned b[32][2]; };
inline VditWarpFragments vdit_fragments[32];

inline int vdit_s8(unsigned word, unsigned k) { return int(static_cast<signed char>((word >> (8 * (k % 4))) & 0xffu)); }

inline void vdit_host_mma_s8_16832(int* c, const unsigned* a, const unsigned* b) {
  const unsigned lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  VditWarpFragments& f = vdit_fragments[threadIdx.x / 32];
  for (int r = 0; r < 4; ++r) f.a[lane][r] = a[r];
  for (int r = 0; r < 2; ++r) f.b[lane][r] = b[r];
  vdit_block_barrier->arrive_and_wait();
  for (unsigned r = 0; r < 4; ++r) {
    const unsigned row = g + 8 * (r >> 1), col = 2 * t + (r & 1);
    int acc = 0;
    for (unsigned k = 0; k < 32; ++k) {
      const unsigned kl = (k % 16) / 4;
      const int av = vdit_s8(f.a[(row % 8) * 4 + kl][(row >= 8 ? 1 : 0) + (k >= 16 ? 2 : 0)], k);
      const int bv = vdit_s8(f.b[col * 4 + kl][k >= 16 ? 1 : 0], k);
      acc += av * bv;
    }
    c[r] += acc;
  }
  vdit_block_barrier->arrive_and_wait();
}
