//! The GPU backend: every source compiled by NVRTC once, loaded into one context, launched
//! on one stream.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, DeviceRepr, LaunchConfig, ValidAsZeroBits};
use cudarc::nvrtc::Ptx;

use crate::KernelError;
use crate::source::{ENTRY_POINTS, SOURCES, compile_ptx, nvrtc_present};
use crate::twin::{BLOCK, grid};

pub(crate) struct Gpu {
    name: String,
    stream: Arc<CudaStream>,
    functions: HashMap<&'static str, CudaFunction>,
    /// One launch sequence at a time: workers share the stream.
    lock: Mutex<()>,
}

fn device(e: impl std::fmt::Debug) -> KernelError {
    KernelError::Device(format!("{e:?}"))
}

impl Gpu {
    /// Opens device 0 and loads every kernel, or says why not.
    pub(crate) fn open() -> Result<Gpu, String> {
        // SAFETY: only tries to open the shared library.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err("the CUDA driver library (libcuda) is not installed".into());
        }
        if !nvrtc_present() {
            return Err("NVRTC (libnvrtc) is not on LD_LIBRARY_PATH".into());
        }
        // cudarc panics on some driver failures instead of returning them.
        catch_unwind(AssertUnwindSafe(Gpu::open_device)).unwrap_or_else(|panic| {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!("opening the CUDA device failed: {why}"))
        })
    }

    fn open_device() -> Result<Gpu, String> {
        let ctx = CudaContext::new(0).map_err(|e| format!("no CUDA device 0: {e:?}"))?;
        let (major, minor) = ctx.compute_capability().map_err(|e| format!("{e:?}"))?;
        let name = format!("{}, sm_{major}{minor}", ctx.name().unwrap_or_else(|_| "unknown".into()));
        let stream = ctx.default_stream();
        let mut functions = HashMap::new();
        for ((file, source), (_, entries)) in SOURCES.iter().zip(ENTRY_POINTS.iter()) {
            let ptx = compile_ptx(file, source, None)?;
            let module = ctx.load_module(Ptx::from_src(ptx)).map_err(|e| format!("loading {file}: {e:?}"))?;
            for entry in entries.iter() {
                let f = module.load_function(entry).map_err(|e| format!("{file}: no {entry}: {e:?}"))?;
                functions.insert(*entry, f);
            }
        }
        Ok(Gpu { name, stream, functions, lock: Mutex::new(()) })
    }

    pub(crate) fn describe(&self) -> &str {
        &self.name
    }

    pub(crate) fn function(&self, entry: &str) -> Result<&CudaFunction, KernelError> {
        self.functions.get(entry).ok_or_else(|| KernelError::Device(format!("kernel {entry} not loaded")))
    }

    pub(crate) fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    pub(crate) fn serial(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Copies `data` to the device (an empty slice becomes one zero, as CUDA cannot allocate
    /// nothing; the kernels never read past their offsets).
    pub(crate) fn upload<T: DeviceRepr + ValidAsZeroBits + Copy + Default>(
        &self,
        data: &[T],
    ) -> Result<CudaSlice<T>, KernelError> {
        if data.is_empty() {
            self.stream.clone_htod(&[T::default()]).map_err(device)
        } else {
            self.stream.clone_htod(data).map_err(device)
        }
    }

    pub(crate) fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, len: usize) -> Result<CudaSlice<T>, KernelError> {
        self.stream.alloc_zeros::<T>(len.max(1)).map_err(device)
    }

    pub(crate) fn download<T: DeviceRepr + Copy>(
        &self,
        from: &CudaSlice<T>,
        into: &mut [T],
    ) -> Result<(), KernelError> {
        let host = self.stream.clone_dtoh(from).map_err(device)?;
        let n = into.len();
        into.copy_from_slice(&host[..n]);
        Ok(())
    }

    pub(crate) fn config(items: u32) -> LaunchConfig {
        LaunchConfig { grid_dim: (grid(items), 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
    }
}

pub(crate) fn launch_error(e: impl std::fmt::Debug) -> KernelError {
    device(e)
}
