// Cup-and-handle scan over each symbol's last bars, one thread per symbol.
//
// Row r holds closes c and volumes v at [offsets[r] .. offsets[r + 1]), oldest first; the last
// bar, e, is the candidate breakout. A pattern is a left rim l, a bottom b and a right rim r
// (l < b < r < e) such that:
//   cup      min_cup <= r - l <= max_cup; every close strictly between the rims is below the
//            lower rim; b is the lowest of them;
//   depth    (lower rim - c[b]) / higher rim within [min_depth, max_depth];
//   rims     |c[l] - c[r]| / higher rim <= rim_tolerance;
//   symmetry (b - l) / (r - l) within 0.5 +- symmetry_tolerance;
//   handle   the bars r+1 .. e-1 (at least min_handle, at most max_handle) stay at or below
//            c[r] and retrace (c[r] - their low) / (c[r] - c[b]) of the cup, in (0, max_retrace];
//   breakout c[e] > c[r] on volume v[e] >= volume_ratio times the mean volume of l .. e-1.
// Its confidence is the mean of four scores in [0.5, 1]: symmetry, rim match, handle
// shallowness and breakout volume (1 at twice the required ratio); 0 when no pattern holds.
// The best pattern is kept. Writes six values per row: confidence, l, b, r (indices into the
// row), depth and retrace; counts rows with a pattern in `found`.
//
// Uses atomicAdd (mapped to std::atomic_ref by the CPU shim); no __syncthreads, no warp
// intrinsics: the CPU twin runs this source unchanged.

#define TF_CUP_OUTPUTS 6

struct TfCupParams {
  unsigned min_cup, max_cup, min_handle, max_handle;
  double min_depth, max_depth, rim_tolerance, symmetry_tolerance, max_retrace, volume_ratio;
};

__device__ double tf_score(double miss, double tolerance) {
  double s = 1.0 - 0.5 * miss / tolerance;
  return s < 0.5 ? 0.5 : (s > 1.0 ? 1.0 : s);
}

extern "C" __global__ void tf_cup_handle(const double* closes, const double* volumes, const unsigned* offsets,
                                         unsigned rows, TfCupParams p, double* out, unsigned* found) {
  unsigned row = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= rows) return;
  const double* c = closes + offsets[row];
  const double* v = volumes + offsets[row];
  unsigned n = offsets[row + 1] - offsets[row];
  double* o = out + (unsigned long long)row * TF_CUP_OUTPUTS;
  for (int k = 0; k < TF_CUP_OUTPUTS; ++k) o[k] = k == 0 ? 0.0 : nan("");
  if (n < 4 || p.min_handle < 1 || p.min_cup < 2) return;
  unsigned e = n - 1;
  double best = 0.0;
  for (unsigned h = p.min_handle; h <= p.max_handle && h + 2 <= e; ++h) {
    unsigned r = e - 1 - h;
    if (!(c[e] > c[r])) continue;
    double handle_low = c[r + 1], handle_high = c[r + 1], handle_volume = 0.0;
    for (unsigned i = r + 1; i < e; ++i) {
      handle_low = c[i] < handle_low ? c[i] : handle_low;
      handle_high = c[i] > handle_high ? c[i] : handle_high;
      handle_volume += v[i];
    }
    if (handle_high > c[r]) continue;
    // Walk the left rim leftwards, keeping the interior's low (the bottom), its high, and the
    // volume of l .. r.
    double low = c[r - 1], interior_high = c[r - 1], cup_volume = v[r] + v[r - 1];
    unsigned bottom = r - 1;
    for (unsigned l = r - 1; l-- > 0;) {
      if (r - l > p.max_cup) break;
      if (l + 1 < r - 1) {
        if (c[l + 1] < low) low = c[l + 1], bottom = l + 1;
        if (c[l + 1] > interior_high) interior_high = c[l + 1];
      }
      cup_volume += v[l];
      if (r - l < p.min_cup) continue;
      double lower = c[l] < c[r] ? c[l] : c[r];
      double higher = c[l] < c[r] ? c[r] : c[l];
      if (!(interior_high < lower) || !(higher > 0.0)) continue;
      double depth = (lower - low) / higher;
      if (depth < p.min_depth || depth > p.max_depth) continue;
      double mismatch = fabs(c[l] - c[r]) / higher;
      if (mismatch > p.rim_tolerance) continue;
      double position = (double)(bottom - l) / (double)(r - l);
      double skew = fabs(position - 0.5);
      if (skew > p.symmetry_tolerance) continue;
      double retrace = (c[r] - handle_low) / (c[r] - low);
      if (!(retrace > 0.0) || retrace > p.max_retrace) continue;
      double mean_volume = (cup_volume + handle_volume) / (double)(e - l);
      if (!(mean_volume > 0.0) || v[e] < p.volume_ratio * mean_volume) continue;
      double volume_score = v[e] / (2.0 * p.volume_ratio * mean_volume);
      volume_score = volume_score > 1.0 ? 1.0 : (volume_score < 0.5 ? 0.5 : volume_score);
      double confidence = (tf_score(skew, p.symmetry_tolerance) + tf_score(mismatch, p.rim_tolerance) +
                           tf_score(retrace, p.max_retrace) + volume_score) /
                          4.0;
      if (confidence > best) {
        best = confidence;
        o[0] = confidence;
        o[1] = (double)l;
        o[2] = (double)bottom;
        o[3] = (double)r;
        o[4] = depth;
        o[5] = retrace;
      }
    }
  }
  if (best > 0.0) atomicAdd(found, 1u);
}
