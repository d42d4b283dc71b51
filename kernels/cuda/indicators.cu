// Batched indicators over ragged rows of closes: row r holds one symbol's window,
// closes[offsets[r] .. offsets[r + 1]), oldest first. One thread per row walks its window in
// order with the streaming operators' arithmetic (TA-Lib's EMA and RSI, the two-pass rolling
// mean and population variance), so each row's values equal what the streaming indicators
// give after the same closes. Writes five values per row: EMA, RSI, rolling mean, rolling
// variance and z-score of the last close; NaN until a value's lookback is met.
//
// No __syncthreads, no warp intrinsics: the CPU twin runs this source unchanged.

#define TF_INDICATOR_OUTPUTS 5

template <class Real>
__device__ void tf_indicators_row(const Real* x, unsigned n, unsigned ema_period, unsigned rsi_period,
                                  unsigned window, Real* out) {
  const Real not_a_number = (Real)nan("");
  const Real ta_epsilon = (Real)0.00000000000001;

  // EMA seeded with the simple average of the first `ema_period` closes.
  Real k = (Real)2.0 / ((Real)ema_period + (Real)1.0);
  Real ema = not_a_number;
  Real seed = 0;
  // RSI: average gain and loss, Wilder-smoothed after a plain average of `rsi_period` changes.
  Real gain = 0, loss = 0, rsi = not_a_number, rn = (Real)rsi_period;
  for (unsigned i = 0; i < n; ++i) {
    Real v = x[i];
    unsigned seen = i + 1;
    if (seen < ema_period) {
      seed += v;
    } else if (seen == ema_period) {
      seed += v;
      ema = seed / (Real)ema_period;
    } else {
      ema += (v - ema) * k;
    }
    if (seen >= 2) {
      Real change = v - x[i - 1];
      if (seen <= rsi_period) {
        if (change < 0) loss -= change; else gain += change;
      } else {
        if (seen > rsi_period + 1) {
          loss *= rn - 1;
          gain *= rn - 1;
        }
        if (change < 0) loss -= change; else gain += change;
        loss /= rn;
        gain /= rn;
        Real total = gain + loss;
        rsi = (-ta_epsilon < total && total < ta_epsilon) ? (Real)0 : (Real)100 * (gain / total);
      }
    }
  }

  Real mean = not_a_number, variance = not_a_number, z = not_a_number;
  if (window > 0 && n >= window) {
    const Real* w = x + (n - window);
    Real total = 0;
    for (unsigned i = 0; i < window; ++i) total += w[i];
    mean = total / (Real)window;
    Real squares = 0;
    for (unsigned i = 0; i < window; ++i) squares += (w[i] - mean) * (w[i] - mean);
    variance = squares / (Real)window;
    Real sd = sqrt(variance);
    z = sd > 0 ? (x[n - 1] - mean) / sd : (Real)0;
  }
  out[0] = ema;
  out[1] = rsi;
  out[2] = mean;
  out[3] = variance;
  out[4] = z;
}

extern "C" __global__ void tf_batched_indicators_f64(const double* closes, const unsigned* offsets, unsigned rows,
                                                     unsigned ema_period, unsigned rsi_period, unsigned window,
                                                     double* out) {
  unsigned row = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= rows) return;
  tf_indicators_row<double>(closes + offsets[row], offsets[row + 1] - offsets[row], ema_period, rsi_period, window,
                            out + (unsigned long long)row * TF_INDICATOR_OUTPUTS);
}

extern "C" __global__ void tf_batched_indicators_f32(const float* closes, const unsigned* offsets, unsigned rows,
                                                     unsigned ema_period, unsigned rsi_period, unsigned window,
                                                     float* out) {
  unsigned row = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= rows) return;
  tf_indicators_row<float>(closes + offsets[row], offsets[row + 1] - offsets[row], ema_period, rsi_period, window,
                           out + (unsigned long long)row * TF_INDICATOR_OUTPUTS);
}
