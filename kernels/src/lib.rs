//! tradeflow's CUDA kernels, their cudarc launcher, and a CPU twin of every kernel.
//!
//! Each kernel is CUDA C in `kernels/cuda/*.cu`. On a machine with a GPU the sources are
//! compiled with NVRTC at start and launched through cudarc; everywhere, `build.rs` compiles
//! the same sources as C++ through a shim header into the CPU twins. [`Kernels`] picks the
//! backend at run time ([`GpuPolicy`]) and never panics for want of CUDA.
//!
//! | kernel | what | batch |
//! |---|---|---|
//! | [`Kernels::indicators`] | EMA, RSI, rolling mean, variance, z-score | one row per symbol |
//! | [`Kernels::garch_fit`] | GARCH(1,1) fit and one-step forecast | one row per symbol |
//! | [`Kernels::mc_pnl`] | Monte-Carlo portfolio P&L (Philox4x32-10) | one thread per path |
//! | [`Kernels::cup_handle`] | cup-and-handle scan | one row per symbol |
//!
//! ```
//! use tradeflow_kernels::{IndicatorParams, Kernels, Ragged};
//!
//! let kernels = Kernels::cpu();
//! let closes = Ragged::from_rows([vec![1.0, 2.0, 3.0, 4.0], vec![5.0, 5.0]]);
//! let rows = kernels.indicators(&closes, IndicatorParams { ema_period: 2, rsi_period: 2, window: 2 }).unwrap();
//! assert_eq!(rows[0].mean, 3.5);
//! assert!(rows[1].rsi.is_nan()); // two closes are one change: RSI(2) needs two
//! ```

mod backend;
mod garch;
mod gpu;
mod indicators;
mod pattern;
mod ragged;
pub mod source;
mod twin;
mod var;

pub use backend::{GpuPolicy, KernelError, Kernels};
pub use garch::{GarchFit, GarchOptions, GarchParams};
pub use indicators::{IndicatorParams, IndicatorRow};
pub use pattern::{CupHandle, CupParams};
pub use ragged::Ragged;
pub use twin::philox4x32_10;
pub use var::{VarEstimate, cholesky, portfolio_var, quantile_loss};
