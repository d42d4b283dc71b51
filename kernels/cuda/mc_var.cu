// Monte-Carlo profit and loss of a portfolio over one period, one thread per path.
//
// Returns are multivariate normal, r = mu + L z with L the Cholesky factor of their
// covariance and z independent standard normals. The P&L of positions worth v is
// v . r = v . mu + (L^T v) . z, so the caller passes m = v . mu and the loadings L^T v and each
// path draws one normal per loading. The normals come from Philox4x32-10 (Salmon et al., 2011),
// written here, keyed by the seed and counted by (path, draw block): a path's P&L depends only on
// the seed and its index, on the GPU and on the CPU alike. Box-Muller turns each pair of
// uniforms into two normals.
//
// No __syncthreads, no warp intrinsics: the CPU twin runs this source unchanged.

#define TF_PHILOX_M0 0xD2511F53u
#define TF_PHILOX_M1 0xCD9E8D57u
#define TF_PHILOX_W0 0x9E3779B9u
#define TF_PHILOX_W1 0xBB67AE85u
#define TF_TWO_PI 6.283185307179586

__device__ __forceinline__ unsigned tf_mulhilo(unsigned a, unsigned b, unsigned* hi) {
  unsigned long long product = (unsigned long long)a * (unsigned long long)b;
  *hi = (unsigned)(product >> 32);
  return (unsigned)product;
}

// Philox4x32 with ten rounds: `ctr` is replaced by the random output.
__device__ void tf_philox4x32_10(unsigned* ctr, unsigned key0, unsigned key1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 += TF_PHILOX_W0;
      key1 += TF_PHILOX_W1;
    }
    unsigned hi0, hi1;
    unsigned lo0 = tf_mulhilo(TF_PHILOX_M0, ctr[0], &hi0);
    unsigned lo1 = tf_mulhilo(TF_PHILOX_M1, ctr[2], &hi1);
    unsigned c0 = hi1 ^ ctr[1] ^ key0;
    unsigned c2 = hi0 ^ ctr[3] ^ key1;
    ctr[0] = c0;
    ctr[1] = lo1;
    ctr[2] = c2;
    ctr[3] = lo0;
  }
}

// A uniform in (0, 1) from 32 random bits: never 0, so the logarithm below is finite.
__device__ __forceinline__ double tf_uniform(unsigned bits) { return ((double)bits + 0.5) * 2.3283064365386963e-10; }

extern "C" __global__ void tf_philox_block(unsigned c0, unsigned c1, unsigned c2, unsigned c3, unsigned key0,
                                           unsigned key1, unsigned* out) {
  if (blockIdx.x * blockDim.x + threadIdx.x != 0) return;
  unsigned ctr[4] = {c0, c1, c2, c3};
  tf_philox4x32_10(ctr, key0, key1);
  for (int i = 0; i < 4; ++i) out[i] = ctr[i];
}

// P&L of `paths` paths: pnl[p] = mean_pnl + sum_j loadings[j] * z_j(p).
extern "C" __global__ void tf_mc_pnl(const double* loadings, unsigned assets, double mean_pnl, unsigned paths,
                                     unsigned long long seed, double* pnl) {
  unsigned path = blockIdx.x * blockDim.x + threadIdx.x;
  if (path >= paths) return;
  unsigned key0 = (unsigned)seed, key1 = (unsigned)(seed >> 32);
  double total = mean_pnl;
  for (unsigned block = 0; block * 4 < assets; ++block) {
    unsigned ctr[4] = {path, block, 0u, 0u};
    tf_philox4x32_10(ctr, key0, key1);
    double z[4];
    for (int pair = 0; pair < 2; ++pair) {
      double radius = sqrt(-2.0 * log(tf_uniform(ctr[2 * pair])));
      double angle = TF_TWO_PI * tf_uniform(ctr[2 * pair + 1]);
      z[2 * pair] = radius * cos(angle);
      z[2 * pair + 1] = radius * sin(angle);
    }
    for (unsigned j = 0; j < 4 && block * 4 + j < assets; ++j) total += loadings[block * 4 + j] * z[j];
  }
  pnl[path] = total;
}
