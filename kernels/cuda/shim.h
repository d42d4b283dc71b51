// Host shim: lets a CUDA C source compile as C++ so that the CPU runs the very same kernel.
//
// `__global__` and `__device__` become plain functions; the thread coordinates are
// thread-locals that `tf_twin::run_grid` sets while it walks the grid serially; atomics go
// through std::atomic_ref. Kernels that need __syncthreads or warp intrinsics cannot run here:
// none of tradeflow's do (each kernel's header says so).
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __restrict__ __restrict

struct tf_dim3 {
  unsigned x, y, z;
};

namespace tf_twin {
inline thread_local tf_dim3 thread_idx{0, 0, 0};
inline thread_local tf_dim3 block_idx{0, 0, 0};
inline thread_local tf_dim3 block_dim{1, 1, 1};
inline thread_local tf_dim3 grid_dim{1, 1, 1};

// Runs `body` once per thread of a one-dimensional grid, in order.
template <class Body>
void run_grid(unsigned grid, unsigned block, Body&& body) {
  grid_dim = {grid, 1, 1};
  block_dim = {block, 1, 1};
  for (unsigned b = 0; b < grid; ++b) {
    for (unsigned t = 0; t < block; ++t) {
      block_idx = {b, 0, 0};
      thread_idx = {t, 0, 0};
      body();
    }
  }
}
}  // namespace tf_twin

#define threadIdx tf_twin::thread_idx
#define blockIdx tf_twin::block_idx
#define blockDim tf_twin::block_dim
#define gridDim tf_twin::grid_dim

template <class T>
inline T atomicAdd(T* address, T value) {
  return std::atomic_ref<T>(*address).fetch_add(value);
}

using std::exp;
using std::fabs;
using std::log;
using std::nan;
using std::cos;
using std::sin;
using std::sqrt;
