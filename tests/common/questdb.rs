//! The ILP servers the QuestDB tests write to: VictoriaMetrics (a real ILP server, installed
//! by the test script) and an in-process server that follows QuestDB's HTTP contract for the
//! error paths.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::ports::spawn_listening;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

/// A VictoriaMetrics process with a temporary data folder, taking ILP over HTTP (`/write`) and
/// TCP. It keeps numeric fields (a string field becomes 0) at millisecond resolution, and
/// names a series `TABLE_FIELD` with the symbols as labels.
pub struct VictoriaMetrics {
    child: Child,
    _dir: tempfile::TempDir,
    pub http: String,
    pub tcp: String,
}

impl VictoriaMetrics {
    pub fn start() -> VictoriaMetrics {
        let bin =
            std::env::var_os("VICTORIA_METRICS_BIN").map(PathBuf::from).unwrap_or_else(|| "victoria-metrics".into());
        let dir = tempfile::tempdir().unwrap();
        let (child, ports) = spawn_listening("victoria-metrics", 2, Duration::from_secs(20), |ports| {
            let mut command = Command::new(&bin);
            command
                .arg(format!("-storageDataPath={}", dir.path().display()))
                // The simulated sessions are in the past: keep everything.
                .args(["-retentionPeriod=100y", "-loggerLevel=ERROR", "-search.latencyOffset=0s"])
                .arg(format!("-httpListenAddr=127.0.0.1:{}", ports[0]))
                .arg(format!("-influxListenAddr=127.0.0.1:{}", ports[1]))
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            command
        });
        let (http, tcp) = (format!("127.0.0.1:{}", ports[0]), format!("127.0.0.1:{}", ports[1]));
        VictoriaMetrics { child, _dir: dir, http, tcp }
    }

    /// Every sample of the series matching `selector`: (labels, value, millisecond time).
    pub fn export(&self, selector: &str) -> Vec<(BTreeMap<String, String>, f64, i64)> {
        let get = |path: &str| {
            ureq::get(&format!("http://{}{path}", self.http)).call().unwrap().body_mut().read_to_string().unwrap()
        };
        get("/internal/force_flush");
        let body = ureq::post(&format!("http://{}/api/v1/export", self.http))
            .send_form([("match[]", selector)])
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let mut samples = Vec::new();
        for line in body.lines().filter(|l| !l.trim().is_empty()) {
            let series: serde_json::Value = serde_json::from_str(line).unwrap();
            let labels: BTreeMap<String, String> = series["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let values = series["values"].as_array().unwrap();
            let times = series["timestamps"].as_array().unwrap();
            for (v, t) in values.iter().zip(times) {
                samples.push((labels.clone(), v.as_f64().unwrap(), t.as_i64().unwrap()));
            }
        }
        samples
    }
}

impl Drop for VictoriaMetrics {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the contract server answers `/write`.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// 204, rows kept.
    Accept,
    /// 503 with QuestDB's JSON error body.
    Unavailable,
    /// Never answers (the client's request timeout must fire).
    Hang,
    /// 400 with the line number of the first line starting with this prefix; nothing kept (the
    /// whole request is refused, as QuestDB does).
    Reject(String),
}

#[derive(Default)]
struct Server {
    /// Modes for the next requests (each for a count of them; a `Reject` counts only the
    /// requests it refuses), then `mode`.
    script: Mutex<std::collections::VecDeque<(Mode, usize)>>,
    mode: Mutex<Option<Mode>>,
    lines: Mutex<Vec<String>>,
    requests: Mutex<usize>,
    queries: Mutex<Vec<String>>,
}

/// An in-process server with QuestDB's HTTP endpoints: `/settings`, `/write` (ILP, with the
/// JSON error bodies of QuestDB's documentation) and `/exec` (a few canned answers).
pub struct QuestDbContract {
    state: Arc<Server>,
    pub addr: String,
    _runtime: tokio::runtime::Runtime,
}

impl QuestDbContract {
    pub fn start(mode: Mode) -> QuestDbContract {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let state = Arc::new(Server { mode: Mutex::new(Some(mode)), ..Default::default() });
        let app = Router::new()
            .route("/settings", get(settings))
            .route("/write", post(write))
            .route("/api/v2/write", post(write))
            .route("/exec", get(exec))
            .with_state(Arc::clone(&state));
        // Port 0: the kernel picks one no other test holds.
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        runtime.spawn(async move { axum::serve(listener, app).await });
        QuestDbContract { state, addr, _runtime: runtime }
    }

    pub fn set(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = Some(mode);
    }

    /// Answers the next requests by `steps` (a mode for a number of requests each), then by
    /// the current mode.
    pub fn script(&self, steps: &[(Mode, usize)]) {
        self.state.script.lock().unwrap().extend(steps.iter().cloned());
    }

    /// Whether every scripted step has been played.
    pub fn script_done(&self) -> bool {
        self.state.script.lock().unwrap().is_empty()
    }

    /// Every ILP line accepted so far.
    pub fn lines(&self) -> Vec<String> {
        self.state.lines.lock().unwrap().clone()
    }

    /// Accepted lines of `table`.
    pub fn rows_of(&self, table: &str) -> Vec<String> {
        let prefix = format!("{table},");
        let bare = format!("{table} ");
        self.lines().into_iter().filter(|l| l.starts_with(&prefix) || l.starts_with(&bare)).collect()
    }

    pub fn requests(&self) -> usize {
        *self.state.requests.lock().unwrap()
    }

    pub fn queries(&self) -> Vec<String> {
        self.state.queries.lock().unwrap().clone()
    }
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn settings() -> Response {
    json(StatusCode::OK, serde_json::json!({"config": {"line.proto.support.versions": [1, 2]}}))
}

async fn write(State(server): State<Arc<Server>>, body: Bytes) -> Response {
    *server.requests.lock().unwrap() += 1;
    let text = String::from_utf8_lossy(&body).into_owned();
    let mode = {
        let mut script = server.script.lock().unwrap();
        match script.front_mut() {
            Some((mode, left)) => {
                let mode = mode.clone();
                let counts = match &mode {
                    Mode::Reject(prefix) => text.lines().any(|l| l.starts_with(prefix.as_str())),
                    _ => true,
                };
                if counts {
                    *left = left.saturating_sub(1);
                    if *left == 0 {
                        script.pop_front();
                    }
                }
                mode
            }
            None => server.mode.lock().unwrap().clone().unwrap_or(Mode::Accept),
        }
    };
    match mode {
        Mode::Accept => {
            server.lines.lock().unwrap().extend(text.lines().map(str::to_owned));
            StatusCode::NO_CONTENT.into_response()
        }
        Mode::Unavailable => json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"code": "internal error", "message": "table busy", "errorId": "T-1"}),
        ),
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::NO_CONTENT.into_response()
        }
        Mode::Reject(prefix) => match text.lines().position(|l| l.starts_with(&prefix)) {
            Some(i) => json(
                StatusCode::BAD_REQUEST,
                serde_json::json!({
                    "code": "invalid",
                    "message": format!("failed to parse line protocol: errors encountered on line(s): error in line {}: cast error for column", i + 1),
                    "line": i + 1,
                    "errorId": "T-2",
                }),
            ),
            None => {
                server.lines.lock().unwrap().extend(text.lines().map(str::to_owned));
                StatusCode::NO_CONTENT.into_response()
            }
        },
    }
}

async fn exec(State(server): State<Arc<Server>>, Query(params): Query<BTreeMap<String, String>>) -> Response {
    let query = params.get("query").cloned().unwrap_or_default();
    server.queries.lock().unwrap().push(query.clone());
    if query.starts_with("CREATE TABLE") {
        return json(StatusCode::OK, serde_json::json!({"ddl": "OK"}));
    }
    if let Some(at) = query.find("nope") {
        return json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"query": query, "error": "table does not exist [table=nope]", "position": at}),
        );
    }
    json(
        StatusCode::OK,
        serde_json::json!({
            "query": query,
            "columns": [{"name": "symbol", "type": "SYMBOL"}, {"name": "vwap", "type": "DOUBLE"}, {"name": "ts", "type": "TIMESTAMP"}],
            "timestamp": 2,
            "dataset": [["BABA", 101.25, "2024-01-02T14:31:00.000000Z"], ["BEBA", null, "2024-01-02T14:31:00.000000Z"]],
            "count": 2
        }),
    )
}
