//! llama.cpp's `llama-server` with Gemma 3 270M, started per test on a free 127.0.0.1 port.
//! `deploy/scripts/model_server.sh` installs both (the test script runs it and exports
//! LLAMA_SERVER_BIN and LLAMA_MODEL).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Holds the model server to one test at a time: two cores run one model at a useful speed.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct LlamaServer {
    child: Child,
    pub port: u16,
}

fn installed(var: &str, what: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_default();
    assert!(
        path.is_file(),
        "the model-server tests need {what} in ${var} (run ./deploy/scripts/test.sh, or \
         ./deploy/scripts/model_server.sh and export what it prints); got {path:?}"
    );
    path
}

impl LlamaServer {
    pub fn start() -> LlamaServer {
        let (child, ports) =
            super::ports::spawn_listening("llama-server", 1, Duration::from_secs(60), |p| Self::command(p[0]));
        LlamaServer { child, port: ports[0] }.healthy_within(Duration::from_secs(60))
    }

    /// Starts the server on `port` (for a restart on the same address).
    pub fn start_on(port: u16) -> LlamaServer {
        let child = Self::command(port).spawn().unwrap_or_else(|e| panic!("starting llama-server: {e}"));
        LlamaServer { child, port }.healthy_within(Duration::from_secs(60))
    }

    fn command(port: u16) -> Command {
        let bin = installed("LLAMA_SERVER_BIN", "llama-server");
        let model = installed("LLAMA_MODEL", "the Gemma 3 270M GGUF");
        let mut command = Command::new(&bin);
        command
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--no-webui", "--no-jinja"])
            .args(["--chat-template", "gemma", "-c", "4096", "-np", "4", "-t", "2", "-m"])
            .arg(&model)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    fn healthy_within(self, wait: Duration) -> LlamaServer {
        let deadline = Instant::now() + wait;
        while !self.healthy() {
            assert!(
                Instant::now() < deadline,
                "llama-server did not become healthy on port {} within {wait:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        self
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    fn healthy(&self) -> bool {
        use std::io::{Read, Write};
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        let mut answer = String::new();
        stream.write_all(request.as_bytes()).is_ok()
            && stream.read_to_string(&mut answer).is_ok()
            && answer.starts_with("HTTP/1.1 200")
    }

    /// Stops the server the hard way (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        self.kill();
    }
}
