//! An S3-protocol object store for a broker whose topics must outlive its process: moto's
//! server (PyPI `moto[s3]`, installed by `deploy/scripts/test.sh` into `target/pyenv`), on a
//! free 127.0.0.1 port, holding everything in its own memory; stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::ports::spawn_listening;

pub struct S3Server {
    child: Child,
    pub endpoint: String,
}

impl S3Server {
    /// Starts a server with an empty `bucket`.
    pub fn start(bucket: &str) -> S3Server {
        let python = std::env::var_os("MOTO_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python"));
        assert!(
            python.exists(),
            "the S3 server needs moto in {} (run ./deploy/scripts/test.sh once: it installs it)",
            python.display()
        );
        let (child, ports) = spawn_listening("moto's S3 server", 1, Duration::from_secs(60), |ports| {
            let mut command = Command::new(&python);
            command
                .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &ports[0].to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            command
        });
        let endpoint = format!("http://127.0.0.1:{}", ports[0]);
        let created = ureq::put(&format!("{endpoint}/{bucket}")).send_empty();
        assert!(created.is_ok(), "creating bucket {bucket}: {created:?}");
        S3Server { child, endpoint }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
