//! `tradeflow serve`: a job server. Jobs are submitted as configs over HTTP, run as timely
//! computations inside the server (each on its own thread, so one failing job never takes
//! another or the server down), watched, steered (kill switch) and stopped gracefully.

mod jobs;
pub mod metrics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tradeflow_operators::Command;
use tradeflow_operators::risk::RiskParams;

pub use jobs::{Confinement, JobState, JobView, Jobs, plan_from_body};

/// The largest request body accepted (a job config).
pub const MAX_BODY: usize = 1 << 20;

/// How the server runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// The bearer token every endpoint but `/health` requires.
    pub token: String,
    pub confinement: Confinement,
    /// Worker threads per job (default: the job's `job.workers`).
    pub workers: Option<usize>,
}

struct AppState {
    token: String,
    jobs: Jobs,
    confinement: Confinement,
    workers: Option<usize>,
}

type Shared = Arc<AppState>;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("encoding the answer: {e}")),
    }
}

/// Every route but `/health` needs `Authorization: Bearer TOKEN`, compared in constant time.
async fn authorize(State(app): State<Shared>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if bool::from(given.as_bytes().ct_eq(app.token.as_bytes())) {
        next.run(request).await
    } else {
        let mut response =
            error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token (Authorization: Bearer TOKEN)");
        response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        response
    }
}

/// The routes, for `serve` and for tests that drive the router directly.
pub fn router(token: String, confinement: Confinement, workers: Option<usize>) -> Router {
    let app = Arc::new(AppState { token, jobs: Jobs::default(), confinement, workers });
    let protected = Router::new()
        .route("/jobs", get(list_jobs).post(submit))
        .route("/jobs/{id}", get(get_job).delete(delete_job))
        .route("/jobs/{id}/stop", post(stop_job))
        .route("/jobs/{id}/control", post(control_job))
        .route("/metrics", get(metrics_endpoint))
        .route("/openapi.json", get(openapi))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&app), authorize));
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/", get(dashboard))
        .route("/events", get(events))
        .merge(protected)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

/// Serves until the process is stopped.
pub fn serve(opts: ServeOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(&opts.confinement.runs_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen).await?;
        tracing::info!(listen = %opts.listen, "serving");
        eprintln!("tradeflow serve: listening on http://{}", listener.local_addr()?);
        axum::serve(listener, router(opts.token, opts.confinement, opts.workers)).await?;
        Ok(())
    })
}

async fn list_jobs(State(app): State<Shared>) -> Response {
    json(StatusCode::OK, &app.jobs.list())
}

async fn submit(State(app): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let is_json = content_type.starts_with("application/json");
    let plan = match plan_from_body(&body, is_json, &app.confinement) {
        Ok(plan) => plan,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    // Starting checks the inputs (files, topics): it may block briefly.
    let app2 = Arc::clone(&app);
    match tokio::task::spawn_blocking(move || app2.jobs.submit(plan, app2.workers)).await {
        Ok(Ok(view)) => json(StatusCode::CREATED, &view),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("starting the job: {e}")),
    }
}

async fn get_job(State(app): State<Shared>, Path(id): Path<String>) -> Response {
    match app.jobs.get(&id) {
        Some(view) => json(StatusCode::OK, &view),
        None => error(StatusCode::NOT_FOUND, format!("no job {id}")),
    }
}

async fn stop_job(State(app): State<Shared>, Path(id): Path<String>) -> Response {
    match app.jobs.stop(&id) {
        Some(view) => json(StatusCode::ACCEPTED, &view),
        None => error(StatusCode::NOT_FOUND, format!("no job {id}")),
    }
}

async fn delete_job(State(app): State<Shared>, Path(id): Path<String>) -> Response {
    match app.jobs.delete(&id) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no job {id}")),
        Err(e) => error(StatusCode::CONFLICT, e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlBody {
    command: Command,
}

/// Reads the body of `POST /jobs/{id}/control`: one command, with a settable limit and a
/// finite value; the error says what was expected.
pub fn parse_control_body(body: &str) -> Result<Command, String> {
    let command = serde_json::from_str::<ControlBody>(body).map(|c| c.command).map_err(|e| {
        let expected = r#"{"command": "halt" | "flatten" | "resume"} or {"command": {"set_limit": {"limit": NAME, "value": NUMBER}}}"#;
        format!("expected {expected}: {e}")
    })?;
    if let Command::SetLimit { limit, value } = &command
        && (!RiskParams::SETTABLE.contains(&limit.as_str()) || !value.is_finite())
    {
        let limits = RiskParams::SETTABLE.join(", ");
        return Err(format!("`{limit}` = {value} cannot be set: the limits are {limits}"));
    }
    Ok(command)
}

async fn control_job(State(app): State<Shared>, Path(id): Path<String>, body: String) -> Response {
    let command = match parse_control_body(&body) {
        Ok(command) => command,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match app.jobs.control(&id, command) {
        Ok(Some(view)) => json(StatusCode::ACCEPTED, &view),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no job {id}")),
        Err(e) => error(StatusCode::CONFLICT, e),
    }
}

async fn metrics_endpoint(State(app): State<Shared>) -> Response {
    match metrics::render(&app.jobs.stats()) {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// The live dashboard: a static page that asks for the token and then follows `/events`.
pub const DASHBOARD: &str = include_str!("dashboard.html");

async fn dashboard() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], Body::from(DASHBOARD)).into_response()
}

#[derive(Deserialize)]
struct EventsQuery {
    token: Option<String>,
}

/// Every job with what the dashboard draws, each half second, as server-sent events. An
/// EventSource cannot send headers, so the token comes as `?token=`, compared in constant time.
async fn events(State(app): State<Shared>, axum::extract::Query(query): axum::extract::Query<EventsQuery>) -> Response {
    let given = query.token.unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(app.token.as_bytes())) {
        return error(StatusCode::UNAUTHORIZED, "missing or wrong token (?token=TOKEN)");
    }
    let stream = futures_util::stream::unfold((app, true), |(app, first)| async move {
        if !first {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        let snapshot = app.jobs.watch_all();
        let data = serde_json::to_string(&snapshot).unwrap_or_else(|_| "[]".into());
        let chunk = format!("event: jobs\ndata: {data}\n\n");
        Some((Ok::<_, std::convert::Infallible>(chunk), (app, false)))
    });
    ([(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], Body::from_stream(stream))
        .into_response()
}

/// The API's OpenAPI 3 document.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], Body::from(OPENAPI)).into_response()
}

/// The token from a file (first line) or the environment, refusing an empty or short one.
pub fn load_token(file: Option<&PathBuf>, env: &str) -> anyhow::Result<String> {
    let token = match file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading the token file {}: {e}", path.display()))?
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        None => std::env::var(env).map_err(|_| anyhow::anyhow!("no token: give --token-file FILE or set {env}"))?,
    };
    if token.len() < 16 {
        anyhow::bail!("the token must be at least 16 characters");
    }
    Ok(token)
}
