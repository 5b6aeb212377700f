// CPU emulation of the CUDA subset the emitted kernels use, so their index math runs under g++ without a GPU: a
// block is blockDim.x std::threads run to completion before the next block, so function-scope `static` is block
// shared memory. __syncthreads is a block barrier; warp shuffles and the warp-wide mma exchange values through
// block-wide slots between two barriers, which is exact because the kernels call them uniformly across the block.
// mma follows the PTX fragment layouts (m16n8k32 .s8: A reg r = (row g + 8(r&1), k 16(r>>1) + 4t..),
// B reg r = (n g, k 16r + 4t..), C reg r = (row g + 8(r>>1), n 2t + (r&1)); g = lane/4, t = lane%4); the FP8 mma
// (.e4m3) has the same layouts with f32 accumulators.
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
// the CUDA vector types the kernels load shared memory through (aligned as CUDA aligns them)
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };

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
// PTX prmt default mode: byte i of the result is byte (s >> 4i) & 7 of {x, y} (x bytes 0..3), its sign replicated
// when bit 3 of that selector is set
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
  const unsigned long long xy = (static_cast<unsigned long long>(y) << 32) | x;
  unsigned r = 0;
  for (int i = 0; i < 4; ++i) {
    const unsigned sel = (s >> (4 * i)) & 0xfu;
    unsigned b = unsigned(xy >> (8 * (sel & 7u))) & 0xffu;
    if (sel & 8u) b = (b & 0x80u) ? 0xffu : 0u;
    r |= b << (8 * i);
  }
  return r;
}
inline void __trap() { std::abort(); }
// CUDA's integer min/max overloads (math functions like fminf come from <cmath>)
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }

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

// a warp's predicates as a mask (bit l: lane l's), through the block-wide slots like the shuffles
inline unsigned __ballot_sync(unsigned, bool pred) {
  vdit_shfl_slots[threadIdx.x] = pred ? 1u : 0u;
  __syncthreads();
  unsigned mask = 0u;
  const unsigned warp = threadIdx.x & ~31u;
  for (unsigned l = 0; l < 32 && warp + l < blockDim.x; ++l) mask |= vdit_shfl_slots[warp + l] << l;
  __syncthreads();
  return mask;
}
inline int __popc(unsigned x) { return __builtin_popcount(x); }

struct VditWarpFragments { unsigned a[32][4]; unsigned b[32][2]; };
inline VditWarpFragments vdit_fragments[32];

inline int vdit_s8(unsigned word, unsigned k) { return int(static_cast<signed char>((word >> (8 * (k % 4))) & 0xffu)); }

// one m16n8kK MMA of the warp (K = 32: .s8/.e4m3 bytes, K = 16: .f16 halves; E = K/8 elements a register): each
// lane posts its fragments, then computes its four accumulators from the warp's a and b (value(word, k) reads
// element k of a register as Acc), summing the products over k ascending. Layouts, g = lane/4, t = lane%4:
// A reg r = (row g + 8(r&1), k (K/2)(r>>1) + E·t..), B reg r = (n g, k (K/2)r + E·t..), C reg r = (row g + 8(r>>1),
// n 2t + (r&1))
template <unsigned K, typename Acc, typename Value>
inline void vdit_host_mma_warp(Acc* c, const unsigned* a, const unsigned* b, Value value) {
  constexpr unsigned E = K / 8;
  const unsigned lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  VditWarpFragments& f = vdit_fragments[threadIdx.x / 32];
  for (int r = 0; r < 4; ++r) f.a[lane][r] = a[r];
  for (int r = 0; r < 2; ++r) f.b[lane][r] = b[r];
  vdit_block_barrier->arrive_and_wait();
  for (unsigned r = 0; r < 4; ++r) {
    const unsigned row = g + 8 * (r >> 1), col = 2 * t + (r & 1);
    Acc acc = 0;
    for (unsigned k = 0; k < K; ++k) {
      const unsigned kl = (k % (K / 2)) / E, hi = k >= K / 2 ? 1 : 0;
      const Acc av = value(f.a[(row % 8) * 4 + kl][(row >= 8 ? 1 : 0) + 2 * hi], k);
      const Acc bv = value(f.b[col * 4 + kl][hi], k);
      acc += av * bv;
    }
    c[r] += acc;
  }
  vdit_block_barrier->arrive_and_wait();
}

template <typename Acc, typename Value>
inline void vdit_host_mma_16832(Acc* c, const unsigned* a, const unsigned* b, Value value) {
  vdit_host_mma_warp<32>(c, a, b, value);
}

inline void vdit_host_mma_s8_16832(int* c, const unsigned* a, const unsigned* b) { vdit_host_mma_16832(c, a, b, vdit_s8); }

// f16 (m16n8k16 .f16, f32 accumulators): a register holds two halves, the lower column in the low half.
// A reg r = (row g + 8(r&1), k 8(r>>1) + 2t..+1), B reg r = (n g, k 8r + 2t..+1), C reg r = (row g + 8(r>>1),
// n 2t + (r&1)); g = lane/4, t = lane%4. _Float16 conversions round to nearest even, as cvt.rn does.
inline float vdit_host_f16(unsigned word, unsigned k) {
  const uint16_t bits = uint16_t(word >> (16 * (k % 2)));
  _Float16 h;
  std::memcpy(&h, &bits, 2);
  return float(h);
}
inline unsigned vdit_host_f16x2(float lo, float hi) {
  const _Float16 h[2] = {_Float16(lo), _Float16(hi)};
  unsigned w;
  std::memcpy(&w, h, 4);
  return w;
}

// one m16n8k16 f16 MMA of the warp: exact products (11 × 11 bits) summed in f32 over k ascending, then added to c
inline void vdit_host_mma_f16_16816(float* c, const unsigned* a, const unsigned* b) {
  vdit_host_mma_warp<16>(c, a, b, vdit_host_f16);
}

// ldmatrix .x4 (.trans): lanes post their row addresses, then each reads its fragment of the four 8×8 b16
// matrices (rows 8m..8m+7 from lanes 8m..8m+7); plain: row l/4, columns 2(l%4)..+1; trans: column l/4, rows 2(l%4)..+1
inline const unsigned char* vdit_ldmatrix_rows[1024];
inline void vdit_host_ldmatrix_x4(unsigned* r, const void* row, bool trans) {
  const unsigned lane = threadIdx.x % 32;
  const unsigned char** rows = vdit_ldmatrix_rows + (threadIdx.x - lane);
  rows[lane] = static_cast<const unsigned char*>(row);
  vdit_block_barrier->arrive_and_wait();
  for (unsigned m = 0; m < 4; ++m) {
    uint16_t h[2];
    for (unsigned i = 0; i < 2; ++i) {
      const unsigned char* p = trans ? rows[8 * m + 2 * (lane % 4) + i] + 2 * (lane / 4)
                                     : rows[8 * m + lane / 4] + 4 * (lane % 4) + 2 * i;
      std::memcpy(&h[i], p, 2);
    }
    r[m] = unsigned(h[0]) | (unsigned(h[1]) << 16);
  }
  vdit_block_barrier->arrive_and_wait();
}

// ---- the host side of the runner (targets/cuda/runner.ts): launches and the CUDA runtime API on host memory.
// A launch runs its blocks in order on blockDim threads started once per launch; two barriers around each block let
// thread 0 move blockIdx and keep `static` (= __shared__) memory private to one block at a time.
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

template <class F> void vdit_host_launch(unsigned grid, unsigned bx, unsigned by, const F& run) {
  const unsigned n = bx * by;
  blockDim.x = bx;
  blockDim.y = by;
  blockDim.z = 1;
  std::barrier<> bar(n);
  vdit_block_barrier = &bar;
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < n; ++t) {
    ts.emplace_back([&, t] {
      threadIdx.x = t % bx;
      threadIdx.y = t / bx;
      for (unsigned b = 0; b < grid; ++b) {
        if (t == 0) blockIdx.x = b;
        bar.arrive_and_wait();
        run();
        bar.arrive_and_wait();
      }
    });
  }
  for (auto& th : ts) th.join();
}
#define VDIT_LAUNCH(entry, grid, bx, by, ...) vdit_host_launch(grid, bx, by, [&] { entry(__VA_ARGS__); })

enum cudaError_t { cudaSuccess = 0, cudaErrorMemoryAllocation = 2, cudaErrorNoDevice = 100 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3 };
struct cudaDeviceProp { char name[256]; int major, minor; size_t totalGlobalMem; };
using vdit_clock = std::chrono::steady_clock;
struct vdit_event { vdit_clock::time_point at; };
using cudaEvent_t = vdit_event*;

// VDIT_EMULATE_MEMORY=<bytes> caps the emulated device memory (the tests' out-of-memory case)
inline size_t vdit_host_allocated = 0;
inline size_t vdit_host_memory() {
  const char* cap = std::getenv("VDIT_EMULATE_MEMORY");
  return cap ? size_t(std::strtoull(cap, nullptr, 10)) : size_t(1) << 36;
}
inline const char* cudaGetErrorString(cudaError_t e) {
  return e == cudaSuccess ? "no error" : e == cudaErrorMemoryAllocation ? "out of memory" : "no CUDA-capable device";
}
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline cudaError_t cudaGetDeviceCount(int* n) { *n = 1; return cudaSuccess; }
inline cudaError_t cudaSetDevice(int) { return cudaSuccess; }
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  std::strcpy(p->name, "CPU emulation (cuda-host.h)");
  p->major = 9;
  p->minor = 0;
  p->totalGlobalMem = vdit_host_memory();
  return cudaSuccess;
}
inline cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  *total = vdit_host_memory();
  *free = *total - vdit_host_allocated;
  return cudaSuccess;
}
inline cudaError_t cudaMalloc(void** p, size_t bytes) {
  if (vdit_host_allocated + bytes > vdit_host_memory()) return cudaErrorMemoryAllocation;
  *p = std::calloc(1, bytes + 16);  // +16: the kernels' packed-word loads may touch a row's padded tail
  if (!*p) return cudaErrorMemoryAllocation;
  vdit_host_allocated += bytes;
  return cudaSuccess;
}
inline cudaError_t cudaFree(void* p) { std::free(p); return cudaSuccess; }
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) { std::memcpy(d, s, n); return cudaSuccess; }
inline cudaError_t cudaMemset(void* d, int v, size_t n) { std::memset(d, v, n); return cudaSuccess; }
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
inline cudaError_t cudaEventCreate(cudaEvent_t* e) { *e = new vdit_event; return cudaSuccess; }
inline cudaError_t cudaEventDestroy(cudaEvent_t e) { delete e; return cudaSuccess; }
inline cudaError_t cudaEventRecord(cudaEvent_t e, int = 0) { e->at = vdit_clock::now(); return cudaSuccess; }
inline cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
inline cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b) {
  *ms = std::chrono::duration<float, std::milli>(b->at - a->at).count();
  return cudaSuccess;
}

// the value of an e4m3 byte (1 sign, 4 exponent bits with bias 7, 3 mantissa bits; s.1111.111 is NaN)
inline float vdit_host_e4m3(unsigned code, unsigned k) {
  const unsigned c = (code >> (8 * (k % 4))) & 0xffu, e = (c >> 3) & 0xfu, m = c & 7u;
  const float v = (e == 15 && m == 7) ? NAN : e == 0 ? std::ldexp(float(m), -9) : std::ldexp(float(8 + m), int(e) - 10);
  return (c & 0x80u) ? -v : v;
}

// FP8 MMA (m16n8k32 .e4m3, fragments as .s8, f32 accumulators): exact products summed in f32 over k ascending
inline void vdit_host_mma_e4m3_16832(float* c, const unsigned* a, const unsigned* b) {
  vdit_host_mma_16832(c, a, b, vdit_host_e4m3);
}
