// CPU twins: every kernel's own source, compiled as C++ through the shim, behind one C entry
// point per kernel that walks the launch grid serially.
#include "shim.h"

#include "cup_handle.cu"
#include "garch.cu"
#include "indicators.cu"
#include "mc_var.cu"

extern "C" {

void tf_twin_batched_indicators_f64(unsigned grid, unsigned block, const double* closes, const unsigned* offsets,
                                    unsigned rows, unsigned ema_period, unsigned rsi_period, unsigned window,
                                    double* out) {
  tf_twin::run_grid(grid, block,
                    [&] { tf_batched_indicators_f64(closes, offsets, rows, ema_period, rsi_period, window, out); });
}

void tf_twin_batched_indicators_f32(unsigned grid, unsigned block, const float* closes, const unsigned* offsets,
                                    unsigned rows, unsigned ema_period, unsigned rsi_period, unsigned window,
                                    float* out) {
  tf_twin::run_grid(grid, block,
                    [&] { tf_batched_indicators_f32(closes, offsets, rows, ema_period, rsi_period, window, out); });
}

void tf_twin_garch_fit(unsigned grid, unsigned block, const double* y, const unsigned* offsets, unsigned rows,
                       int zero_mean, unsigned max_iterations, double* out) {
  tf_twin::run_grid(grid, block, [&] { tf_garch_fit(y, offsets, rows, zero_mean, max_iterations, out); });
}

void tf_twin_garch_loglik_at(unsigned grid, unsigned block, const double* y, const unsigned* offsets, unsigned rows,
                             int zero_mean, const double* params, double* out) {
  tf_twin::run_grid(grid, block, [&] { tf_garch_loglik_at(y, offsets, rows, zero_mean, params, out); });
}

void tf_twin_philox_block(unsigned c0, unsigned c1, unsigned c2, unsigned c3, unsigned key0, unsigned key1,
                          unsigned* out) {
  tf_twin::run_grid(1, 1, [&] { tf_philox_block(c0, c1, c2, c3, key0, key1, out); });
}

void tf_twin_mc_pnl(unsigned grid, unsigned block, const double* loadings, unsigned assets, double mean_pnl,
                    unsigned paths, unsigned long long seed, double* pnl) {
  tf_twin::run_grid(grid, block, [&] { tf_mc_pnl(loadings, assets, mean_pnl, paths, seed, pnl); });
}

void tf_twin_cup_handle(unsigned grid, unsigned block, const double* closes, const double* volumes,
                        const unsigned* offsets, unsigned rows, TfCupParams params, double* out, unsigned* found) {
  tf_twin::run_grid(grid, block, [&] { tf_cup_handle(closes, volumes, offsets, rows, params, out, found); });
}
}
