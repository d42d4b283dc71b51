//! tradeflow's CUDA kernels, their cudarc launcher, and a CPU twin of every kernel.
//!
//! Not built yet: the batched indicators, GARCH(1,1), Monte-Carlo VaR and the cup-and-handle
//! scanner arrive with their issue. The crate exists now so that the workspace has its final
//! shape and `dataflows`/`src` can depend on it when the kernels land.
