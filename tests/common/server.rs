//! The job server as a child process, and a client for its HTTP API.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const TOKEN: &str = "test-token-0123456789abcdef";

pub struct Server {
    child: Child,
    pub url: String,
    pub token_file: std::path::PathBuf,
}

impl Server {
    pub fn start(dir: &Path) -> Server {
        let token_file = dir.join("token");
        std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        // Started only once the server itself listens: a port found free can be taken by
        // another test before the server binds it, and a bare connect would then succeed.
        let (child, ports) = super::ports::spawn_listening("the job server", 1, Duration::from_secs(20), |ports| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_tradeflow"));
            command
                .args(["serve", "--listen", &format!("127.0.0.1:{}", ports[0]), "--token-file"])
                .arg(&token_file)
                .arg("--data-dir")
                .arg(dir.join("data"))
                .arg("--runs-dir")
                .arg(dir.join("runs"))
                .args(["-w", "1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            command
        });
        let url = format!("http://127.0.0.1:{}", ports[0]);
        Server { child, url, token_file }
    }

    /// (status, body) of a request, with the token unless `token` is None; status 0 and the
    /// error when the connection failed.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<(&str, &str)>) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let url = format!("{}{path}", self.url);
        let auth = token.map(|t| format!("Bearer {t}"));
        let response = match (method, body) {
            ("GET", _) => {
                let mut r = agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            ("DELETE", _) => {
                let mut r = agent.delete(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            (_, body) => {
                let mut r = agent.post(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                match body {
                    Some((content_type, body)) => r.content_type(content_type).send(body.to_owned()),
                    None => r.send_empty(),
                }
            }
        };
        match response {
            Ok(mut response) => (response.status().as_u16(), response.body_mut().read_to_string().unwrap_or_default()),
            Err(e) => (0, e.to_string()),
        }
    }

    pub fn get(&self, path: &str) -> Value {
        let (status, body) = self.call("GET", path, Some(TOKEN), None);
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    pub fn wait_for(&self, id: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let job = self.get(&format!("/jobs/{id}"));
            if ok(&job) {
                return job;
            }
            assert!(Instant::now() < deadline, "{id}: waited 120 s for {what}: {job}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn client(&self, args: &[&str]) -> String {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--server", &self.url, "--token-file", self.token_file.to_str().unwrap()]);
        super::ok(&all)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A long simulated market (it would run for minutes): stopped by the test.
pub fn long_job(name: &str, out: &str) -> String {
    format!(
        "[job]\nname = \"{name}\"\n[source]\nkind = \"simulator\"\nseed = 3\nsymbols = 10\nstart = \"2024-03-04T14:30:00Z\"\nduration_s = 2592000\nticks_per_second = 2.0\n{}\n[output]\ndir = \"{out}\"\n",
        super::FAST_ENSEMBLE
    )
}

pub fn metric(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l.contains(labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}{{{labels}}} in\n{text}"))
}
