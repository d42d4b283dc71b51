//! Which device runs the kernels: picked at run time, never a panic for want of CUDA.

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use crate::gpu::Gpu;

/// The job config's `gpu = "off" | "auto" | "require"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GpuPolicy {
    /// The CPU twins, always.
    Off,
    /// The GPU when one can be used, else the CPU twins (with one log line saying why).
    #[default]
    Auto,
    /// The GPU, or a start-up error saying why not.
    Require,
}

impl FromStr for GpuPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(GpuPolicy::Off),
            "auto" => Ok(GpuPolicy::Auto),
            "require" => Ok(GpuPolicy::Require),
            other => Err(format!("gpu = \"{other}\": expected \"off\", \"auto\" or \"require\"")),
        }
    }
}

/// Why a kernel did not run.
#[derive(Clone, Debug, PartialEq)]
pub enum KernelError {
    /// No usable GPU (only from [`GpuPolicy::Require`]).
    NoGpu(String),
    /// The CUDA driver failed a launch or a copy.
    Device(String),
    /// The batch or the parameters cannot be run.
    Input(String),
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::NoGpu(why) => write!(f, "gpu = \"require\" but no GPU can be used: {why}"),
            KernelError::Device(why) => write!(f, "CUDA device error: {why}"),
            KernelError::Input(why) => write!(f, "kernel input: {why}"),
        }
    }
}

impl std::error::Error for KernelError {}

/// The kernels on one backend: the GPU through cudarc, or the CPU twins.
pub struct Kernels {
    gpu: Option<Gpu>,
}

impl Kernels {
    /// The CPU twins.
    pub fn cpu() -> Self {
        Kernels { gpu: None }
    }

    /// The backend `policy` asks for. `Auto` falls back to the CPU (logging why); `Require`
    /// returns the reason as an error instead.
    pub fn select(policy: GpuPolicy) -> Result<Self, KernelError> {
        if policy == GpuPolicy::Off {
            return Ok(Kernels::cpu());
        }
        match Gpu::open() {
            Ok(gpu) => {
                tracing::info!(device = %gpu.describe(), "kernels on the GPU");
                Ok(Kernels { gpu: Some(gpu) })
            }
            Err(why) if policy == GpuPolicy::Require => Err(KernelError::NoGpu(why)),
            Err(why) => {
                tracing::info!("kernels on the CPU twins: {why}");
                Ok(Kernels::cpu())
            }
        }
    }

    /// Like [`select`](Self::select), but the GPU is opened (and the kernels compiled) once per
    /// process and shared by every caller after: a server validating job after job, or a
    /// test, pays for it once.
    pub fn shared(policy: GpuPolicy) -> Result<Arc<Self>, KernelError> {
        static GPU: OnceLock<Result<Arc<Kernels>, String>> = OnceLock::new();
        static CPU: OnceLock<Arc<Kernels>> = OnceLock::new();
        let cpu = || Arc::clone(CPU.get_or_init(|| Arc::new(Kernels::cpu())));
        if policy == GpuPolicy::Off {
            return Ok(cpu());
        }
        let opened = GPU.get_or_init(|| {
            Gpu::open().map(|gpu| {
                tracing::info!(device = %gpu.describe(), "kernels on the GPU");
                Arc::new(Kernels { gpu: Some(gpu) })
            })
        });
        match opened {
            Ok(gpu) => Ok(Arc::clone(gpu)),
            Err(why) if policy == GpuPolicy::Require => Err(KernelError::NoGpu(why.clone())),
            Err(why) => {
                tracing::info!("kernels on the CPU twins: {why}");
                Ok(cpu())
            }
        }
    }

    /// "gpu (NAME, sm_XY)" or "cpu".
    pub fn describe(&self) -> String {
        match &self.gpu {
            Some(gpu) => format!("gpu ({})", gpu.describe()),
            None => "cpu".to_string(),
        }
    }

    pub fn on_gpu(&self) -> bool {
        self.gpu.is_some()
    }

    pub(crate) fn gpu(&self) -> Option<&Gpu> {
        self.gpu.as_ref()
    }
}

impl fmt::Debug for Kernels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kernels({})", self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_never_fails_and_off_is_the_cpu() {
        // With or without a GPU, `auto` gives a working backend and `off` the twins.
        let auto = Kernels::select(GpuPolicy::Auto).expect("auto falls back to the CPU");
        assert!(auto.describe() == "cpu" || auto.on_gpu());
        assert!(!Kernels::select(GpuPolicy::Off).unwrap().on_gpu());
        match Kernels::select(GpuPolicy::Require) {
            Ok(gpu) => assert!(gpu.on_gpu()),
            Err(e) => assert!(matches!(e, KernelError::NoGpu(_)), "{e}"),
        }
    }

    #[test]
    fn policies_parse_and_say_what_is_allowed() {
        assert_eq!("require".parse::<GpuPolicy>(), Ok(GpuPolicy::Require));
        let e = "yes".parse::<GpuPolicy>().unwrap_err();
        assert_eq!(e, "gpu = \"yes\": expected \"off\", \"auto\" or \"require\"");
    }
}
