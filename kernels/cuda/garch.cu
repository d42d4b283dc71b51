// GARCH(1,1) with a constant (or zero) mean and Gaussian errors, one thread per series.
//
// Series r holds returns y[offsets[r] .. offsets[r + 1]). The model is
//   e_t = y_t - mu,  s2_t = omega + alpha * e_{t-1}^2 + beta * s2_{t-1},
// with the recursion started from the backcast that the Python `arch` package uses: the
// 0.94-weighted mean of the first min(75, n) squared residuals about the sample mean, fixed
// for the whole fit. The log-likelihood is sum -0.5 * (log(2 pi) + log s2_t + e_t^2 / s2_t).
//
// The fit searches a coarse grid of (alpha, beta) with omega from variance targeting and mu the
// sample mean, then runs Nelder-Mead from the best grid point (and once more from where it
// stopped) over mu, log omega, and (alpha, beta) written as persistence * share, which keeps
// omega > 0, alpha, beta >= 0 and alpha + beta < 1 without constraints.
//
// No __syncthreads, no warp intrinsics: the CPU twin runs this source unchanged.

#define TF_GARCH_OUTPUTS 8
#define TF_GARCH_MAX_DIM 4
#define TF_LOG_2PI 1.8378770664093453

struct TfGarchSeries {
  const double* y;
  unsigned n;
  double backcast;
  int zero_mean;
};

__device__ double tf_garch_backcast(const double* y, unsigned n, double mu) {
  unsigned tau = n < 75 ? n : 75;
  double weight = 1.0, weights = 0.0, total = 0.0;
  for (unsigned i = 0; i < tau; ++i) weights += weight, weight *= 0.94;
  weight = 1.0;
  for (unsigned i = 0; i < tau; ++i) {
    double e = y[i] - mu;
    total += e * e * (weight / weights);
    weight *= 0.94;
  }
  return total;
}

// The log-likelihood at (mu, omega, alpha, beta); `next_s2` receives the one-step forecast.
__device__ double tf_garch_loglik(const TfGarchSeries* s, double mu, double omega, double alpha, double beta,
                                  double* next_s2) {
  double s2 = omega + (alpha + beta) * s->backcast;
  double ll = 0.0, e = 0.0;
  for (unsigned t = 0; t < s->n; ++t) {
    if (t > 0) s2 = omega + alpha * e * e + beta * s2;
    e = s->y[t] - mu;
    ll += -0.5 * (TF_LOG_2PI + log(s2) + e * e / s2);
  }
  if (next_s2) *next_s2 = omega + alpha * e * e + beta * s2;
  return ll;
}

__device__ double tf_logistic(double x) { return 1.0 / (1.0 + exp(-x)); }
__device__ double tf_logit(double p) { return log(p / (1.0 - p)); }

// Unconstrained point -> (mu, omega, alpha, beta).
__device__ void tf_garch_unpack(const TfGarchSeries* s, const double* u, double mean, double* p) {
  int k = 0;
  p[0] = s->zero_mean ? 0.0 : u[k++];
  (void)mean;
  p[1] = exp(u[k++]);
  double persistence = tf_logistic(u[k++]);
  double share = tf_logistic(u[k++]);
  p[2] = persistence * share;
  p[3] = persistence * (1.0 - share);
}

__device__ double tf_garch_cost(const TfGarchSeries* s, const double* u, double mean) {
  double p[4];
  tf_garch_unpack(s, u, mean, p);
  double ll = tf_garch_loglik(s, p[0], p[1], p[2], p[3], 0);
  return ll == ll ? -ll : 1e300;
}

// Nelder-Mead on `dim` unconstrained coordinates from `start`; returns the best cost.
__device__ double tf_nelder_mead(const TfGarchSeries* s, double mean, int dim, double* start, const double* step,
                                 unsigned max_iterations, unsigned* iterations) {
  double simplex[TF_GARCH_MAX_DIM + 1][TF_GARCH_MAX_DIM] = {};
  double cost[TF_GARCH_MAX_DIM + 1] = {};
  for (int i = 0; i <= dim; ++i) {
    for (int j = 0; j < dim; ++j) simplex[i][j] = start[j] + (i == j + 1 ? step[j] : 0.0);
    cost[i] = tf_garch_cost(s, simplex[i], mean);
  }
  unsigned it = 0;
  for (; it < max_iterations; ++it) {
    // Order: best first.
    for (int i = 1; i <= dim; ++i) {
      for (int j = i; j > 0 && cost[j] < cost[j - 1]; --j) {
        double c = cost[j]; cost[j] = cost[j - 1]; cost[j - 1] = c;
        for (int d = 0; d < dim; ++d) {
          double v = simplex[j][d]; simplex[j][d] = simplex[j - 1][d]; simplex[j - 1][d] = v;
        }
      }
    }
    double spread = fabs(cost[dim] - cost[0]);
    if (spread <= 1e-12 * (fabs(cost[0]) + 1e-300)) break;
    double centroid[TF_GARCH_MAX_DIM], trial[TF_GARCH_MAX_DIM], outer[TF_GARCH_MAX_DIM];
    for (int d = 0; d < dim; ++d) {
      centroid[d] = 0.0;
      for (int i = 0; i < dim; ++i) centroid[d] += simplex[i][d];
      centroid[d] /= dim;
    }
    for (int d = 0; d < dim; ++d) trial[d] = centroid[d] + (centroid[d] - simplex[dim][d]);
    double reflected = tf_garch_cost(s, trial, mean);
    if (reflected < cost[0]) {
      for (int d = 0; d < dim; ++d) outer[d] = centroid[d] + 2.0 * (centroid[d] - simplex[dim][d]);
      double expanded = tf_garch_cost(s, outer, mean);
      bool take = expanded < reflected;
      for (int d = 0; d < dim; ++d) simplex[dim][d] = take ? outer[d] : trial[d];
      cost[dim] = take ? expanded : reflected;
    } else if (reflected < cost[dim - 1]) {
      for (int d = 0; d < dim; ++d) simplex[dim][d] = trial[d];
      cost[dim] = reflected;
    } else {
      bool outside = reflected < cost[dim];
      for (int d = 0; d < dim; ++d)
        outer[d] = outside ? centroid[d] + 0.5 * (trial[d] - centroid[d])
                           : centroid[d] + 0.5 * (simplex[dim][d] - centroid[d]);
      double contracted = tf_garch_cost(s, outer, mean);
      if (contracted < (outside ? reflected : cost[dim])) {
        for (int d = 0; d < dim; ++d) simplex[dim][d] = outer[d];
        cost[dim] = contracted;
      } else {
        for (int i = 1; i <= dim; ++i) {
          for (int d = 0; d < dim; ++d) simplex[i][d] = simplex[0][d] + 0.5 * (simplex[i][d] - simplex[0][d]);
          cost[i] = tf_garch_cost(s, simplex[i], mean);
        }
      }
    }
  }
  int best = 0;
  for (int i = 1; i <= dim; ++i)
    if (cost[i] < cost[best]) best = i;
  for (int d = 0; d < dim; ++d) start[d] = simplex[best][d];
  *iterations += it;
  return cost[best];
}

// Fits every series. Writes per series: mu, omega, alpha, beta, log-likelihood, the one-step
// variance forecast, the backcast and the Nelder-Mead iterations (NaN row when n < 2).
extern "C" __global__ void tf_garch_fit(const double* y, const unsigned* offsets, unsigned rows, int zero_mean,
                                        unsigned max_iterations, double* out) {
  unsigned row = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= rows) return;
  double* o = out + (unsigned long long)row * TF_GARCH_OUTPUTS;
  unsigned n = offsets[row + 1] - offsets[row];
  const double* x = y + offsets[row];
  if (n < 2) {
    for (int k = 0; k < TF_GARCH_OUTPUTS; ++k) o[k] = nan("");
    return;
  }
  double mean = 0.0;
  for (unsigned t = 0; t < n; ++t) mean += x[t];
  mean /= n;
  double variance = 0.0;
  for (unsigned t = 0; t < n; ++t) variance += (x[t] - mean) * (x[t] - mean);
  variance /= n;
  if (!(variance > 0.0)) variance = 1e-12;
  double mu0 = zero_mean ? 0.0 : mean;
  TfGarchSeries s = {x, n, tf_garch_backcast(x, n, mu0), zero_mean};

  // Coarse grid, omega by variance targeting.
  const double alphas[6] = {0.01, 0.03, 0.06, 0.1, 0.15, 0.25};
  const double betas[7] = {0.3, 0.5, 0.7, 0.8, 0.88, 0.93, 0.97};
  double best_cost = 1e300, best_alpha = 0.05, best_beta = 0.9;
  for (int i = 0; i < 6; ++i) {
    for (int j = 0; j < 7; ++j) {
      double a = alphas[i], b = betas[j];
      if (a + b >= 0.999) continue;
      double ll = tf_garch_loglik(&s, mu0, variance * (1.0 - a - b), a, b, 0);
      if (ll == ll && -ll < best_cost) best_cost = -ll, best_alpha = a, best_beta = b;
    }
  }
  int dim = zero_mean ? 3 : 4;
  double u[TF_GARCH_MAX_DIM], step[TF_GARCH_MAX_DIM];
  int k = 0;
  if (!zero_mean) {
    u[k] = mean;
    step[k++] = 0.1 * sqrt(variance);
  }
  u[k] = log(variance * (1.0 - best_alpha - best_beta));
  step[k++] = 0.5;
  u[k] = tf_logit(best_alpha + best_beta);
  step[k++] = 0.5;
  u[k] = tf_logit(best_alpha / (best_alpha + best_beta));
  step[k++] = 0.5;
  unsigned iterations = 0;
  tf_nelder_mead(&s, mean, dim, u, step, max_iterations, &iterations);
  for (int d = 0; d < dim; ++d) step[d] *= 0.1;
  tf_nelder_mead(&s, mean, dim, u, step, max_iterations, &iterations);

  double p[4], next_s2 = 0.0;
  tf_garch_unpack(&s, u, mean, p);
  double ll = tf_garch_loglik(&s, p[0], p[1], p[2], p[3], &next_s2);
  o[0] = p[0];
  o[1] = p[1];
  o[2] = p[2];
  o[3] = p[3];
  o[4] = ll;
  o[5] = next_s2;
  o[6] = s.backcast;
  o[7] = (double)iterations;
}

// The log-likelihood and the one-step variance forecast at given parameters (four per row:
// mu, omega, alpha, beta); the backcast is taken about the sample mean, or zero with
// `zero_mean`, as the fit does. Writes two values per row.
extern "C" __global__ void tf_garch_loglik_at(const double* y, const unsigned* offsets, unsigned rows,
                                              int zero_mean, const double* params, double* out) {
  unsigned row = blockIdx.x * blockDim.x + threadIdx.x;
  if (row >= rows) return;
  unsigned n = offsets[row + 1] - offsets[row];
  const double* x = y + offsets[row];
  double mean = 0.0;
  for (unsigned t = 0; t < n; ++t) mean += x[t];
  mean = n > 0 ? mean / n : 0.0;
  TfGarchSeries s = {x, n, tf_garch_backcast(x, n, zero_mean ? 0.0 : mean), zero_mean};
  const double* p = params + (unsigned long long)row * 4;
  double next_s2 = 0.0;
  out[2 * (unsigned long long)row] = tf_garch_loglik(&s, p[0], p[1], p[2], p[3], &next_s2);
  out[2 * (unsigned long long)row + 1] = next_s2;
}
