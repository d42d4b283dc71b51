//! The jobs a server runs: each a timely computation on its own thread, watched through its
//! [`JobStats`], stopped through its stop switch, isolated from the others.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use serde::Serialize;
use tradeflow_operators::Command;

use crate::config::{JobConfig, JobPlan, SourceSection};
use crate::job::{JobStats, RunOptions, RunSummary, check_inputs, run_with};
use crate::timefmt::format_ts;
use crate::watch::WatchView;

/// Where a server's jobs may read and write.
#[derive(Clone, Debug)]
pub struct Confinement {
    /// Input files are named relative to this folder and must stay inside it.
    pub data_dir: PathBuf,
    /// `output.dir` is relative to this folder and must stay inside it.
    pub runs_dir: PathBuf,
}

/// `path` under `base`: relative, with no `..`, or an error naming `key`.
fn confine(base: &Path, path: &Path, key: &str) -> Result<PathBuf, String> {
    let escapes = path.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if path.as_os_str().is_empty() || escapes {
        return Err(format!(
            "{key} = \"{}\" must be a relative path inside the server's folder (no `/` at the start, no `..`)",
            path.display()
        ));
    }
    Ok(base.join(path))
}

/// Parses, validates and confines a submitted job config (TOML, or JSON when `json`).
pub fn plan_from_body(body: &str, json: bool, confinement: &Confinement) -> Result<JobPlan, String> {
    let config: JobConfig = if json {
        serde_json::from_str(body).map_err(|e| format!("job config (JSON): {e}"))?
    } else {
        JobConfig::parse(body, "job config").map_err(|e| e.to_string())?
    };
    let mut plan = config.validate("job config").map_err(|e| e.to_string())?;
    if let SourceSection::Files(files) = &mut plan.source {
        let data = &confinement.data_dir;
        files.ticks = confine(data, &files.ticks, "source.ticks")?;
        if let Some(news) = &files.news {
            files.news = Some(confine(data, news, "source.news")?);
        }
        if let Some(control) = &files.control {
            files.control = Some(confine(data, control, "source.control")?);
        }
    }
    plan.output_dir = confine(&confinement.runs_dir, &plan.output_dir, "output.dir")?;
    Ok(plan)
}

/// A job as the dashboard receives it.
#[derive(Debug, Serialize)]
pub struct WatchedJob {
    #[serde(flatten)]
    pub job: JobView,
    #[serde(flatten)]
    pub watch: WatchView,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Running,
    Stopping,
    Finished,
    Stopped,
    Failed,
}

/// How a job stands: its state, and once it has ended, how long it ran and how it ended.
#[derive(Clone)]
struct Standing {
    state: JobState,
    wall_s: Option<f64>,
    error: Option<String>,
    summary: Option<RunSummary>,
}

struct Job {
    id: String,
    name: String,
    output_dir: PathBuf,
    stats: Arc<JobStats>,
    started: SystemTime,
    clock: Instant,
    standing: Mutex<Standing>,
}

/// What `GET /jobs/{id}` shows.
#[derive(Debug, Serialize)]
pub struct JobView {
    pub id: String,
    pub name: String,
    pub state: JobState,
    pub started: String,
    pub wall_s: f64,
    /// Records read per input (ticks, news, control), and those dead-lettered.
    pub records_in: BTreeMap<&'static str, u64>,
    pub dead_letters: BTreeMap<&'static str, u64>,
    /// Rows written per stream.
    pub records_out: BTreeMap<String, u64>,
    /// The newest event time read (ns) and as text.
    pub event_time_ns: i64,
    pub event_time: String,
    /// Every sink has made everything before this epoch durable (`null` once all closed).
    pub durable_epoch: Option<u64>,
    pub output_dir: String,
    pub last_error: Option<String>,
    pub equity: Option<f64>,
    pub drawdown: Option<f64>,
    /// The run's summary (as in its `run.json`) once it has finished or stopped.
    pub summary: Option<RunSummary>,
}

impl Job {
    fn view(&self) -> JobView {
        let Standing { state, wall_s, error, summary } = self.standing();
        let stats = &self.stats;
        let sources = [("ticks", &stats.tick_stats), ("news", &stats.news_stats), ("control", &stats.control_stats)];
        let event_time_ns = stats.tick_stats.max_ts.load(Ordering::Relaxed);
        let durable = stats.durable_frontier();
        let pnl = stats.last_pnl.lock().ok().and_then(|p| p.clone());
        JobView {
            id: self.id.clone(),
            name: self.name.clone(),
            state,
            started: format_ts(unix_ns(self.started)),
            wall_s: wall_s.unwrap_or_else(|| self.clock.elapsed().as_secs_f64()),
            records_in: sources.iter().map(|(n, s)| (*n, s.records.load(Ordering::Relaxed))).collect(),
            dead_letters: sources.iter().map(|(n, s)| (*n, s.dead_letters.load(Ordering::Relaxed))).collect(),
            records_out: stats.rows_out(),
            event_time_ns,
            event_time: if event_time_ns > 0 { format_ts(event_time_ns) } else { String::new() },
            durable_epoch: (durable != u64::MAX).then_some(durable),
            output_dir: self.output_dir.display().to_string(),
            last_error: error.or_else(|| stats.errors.lock().ok().and_then(|e| e.last().cloned())),
            equity: pnl.as_ref().map(|p| p.equity),
            drawdown: pnl.as_ref().map(|p| p.drawdown),
            summary,
        }
    }

    fn standing(&self) -> Standing {
        self.standing.lock().map(|s| s.clone()).unwrap_or(Standing {
            state: JobState::Failed,
            wall_s: None,
            error: Some("the job's state is unavailable".into()),
            summary: None,
        })
    }

    fn state(&self) -> JobState {
        self.standing().state
    }
}

fn unix_ns(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// The server's jobs.
#[derive(Default)]
pub struct Jobs {
    jobs: Mutex<BTreeMap<String, Arc<Job>>>,
    next: Mutex<u64>,
}

impl Jobs {
    /// Starts `plan` on its own thread. Refused (nothing started) when its inputs cannot be
    /// read or another live job writes to the same folder.
    pub fn submit(&self, plan: JobPlan, workers: Option<usize>) -> Result<JobView, String> {
        check_inputs(&plan).map_err(|e| format!("{e:#}"))?;
        let mut jobs = self.jobs.lock().map_err(|_| "the job table is unavailable".to_owned())?;
        if let Some(other) = jobs
            .values()
            .find(|j| j.output_dir == plan.output_dir && matches!(j.state(), JobState::Running | JobState::Stopping))
        {
            return Err(format!("output.dir {} is in use by job {}", plan.output_dir.display(), other.id));
        }
        let id = {
            let mut next = self.next.lock().map_err(|_| "the job table is unavailable".to_owned())?;
            *next += 1;
            format!("job-{}", *next)
        };
        let job = Arc::new(Job {
            id: id.clone(),
            name: plan.name.clone(),
            output_dir: plan.output_dir.clone(),
            stats: Arc::new(JobStats::default()),
            started: SystemTime::now(),
            clock: Instant::now(),
            standing: Mutex::new(Standing { state: JobState::Running, wall_s: None, error: None, summary: None }),
        });
        jobs.insert(id.clone(), Arc::clone(&job));
        let runner = Arc::clone(&job);
        let opts = RunOptions { workers, progress: false, ..RunOptions::default() };
        std::thread::Builder::new()
            .name(format!("tradeflow-{id}"))
            .spawn(move || {
                let span = tracing::info_span!("job", id = %runner.id, name = %runner.name);
                let _entered = span.enter();
                tracing::info!("started");
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_with(plan, &opts, Arc::clone(&runner.stats))
                }));
                let wall = runner.clock.elapsed().as_secs_f64();
                let stopped = runner.stats.stop.load(Ordering::Relaxed);
                let ended = |state, error, summary| Standing { state, wall_s: Some(wall), error, summary };
                let next = match outcome {
                    Ok(Ok(summary)) => {
                        let state = if stopped { JobState::Stopped } else { JobState::Finished };
                        tracing::info!(?state, wall_s = wall, "done");
                        ended(state, None, Some(summary))
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %format!("{e:#}"), "failed");
                        ended(JobState::Failed, Some(format!("{e:#}")), None)
                    }
                    Err(_) => ended(JobState::Failed, Some("the job panicked (a bug: please report it)".into()), None),
                };
                if let Ok(mut standing) = runner.standing.lock() {
                    *standing = next;
                }
            })
            .map_err(|e| format!("starting the job's thread: {e}"))?;
        Ok(job.view())
    }

    pub fn list(&self) -> Vec<JobView> {
        self.jobs.lock().map(|j| j.values().map(|job| job.view()).collect()).unwrap_or_default()
    }

    pub fn get(&self, id: &str) -> Option<JobView> {
        self.find(id).map(|j| j.view())
    }

    fn find(&self, id: &str) -> Option<Arc<Job>> {
        self.jobs.lock().ok().and_then(|j| j.get(id).cloned())
    }

    /// Asks a running job to stop gracefully.
    pub fn stop(&self, id: &str) -> Option<JobView> {
        let job = self.find(id)?;
        job.stats.stop.store(true, Ordering::Relaxed);
        if let Ok(mut standing) = job.standing.lock()
            && standing.state == JobState::Running
        {
            standing.state = JobState::Stopping;
        }
        Some(job.view())
    }

    /// Forgets a job that has ended; a live one must be stopped first.
    pub fn delete(&self, id: &str) -> Result<bool, String> {
        let Some(job) = self.find(id) else { return Ok(false) };
        let state = job.state();
        if matches!(state, JobState::Running | JobState::Stopping) {
            return Err(format!("job {id} is {state:?}: stop it first").to_lowercase());
        }
        Ok(self.jobs.lock().map(|mut j| j.remove(id).is_some()).unwrap_or(false))
    }

    /// Queues a kill-switch command for a running job.
    pub fn control(&self, id: &str, command: Command) -> Result<Option<JobView>, String> {
        let Some(job) = self.find(id) else { return Ok(None) };
        if job.state() != JobState::Running {
            return Err(format!("job {id} is not running"));
        }
        job.stats.commands.lock().map_err(|_| "the job's command queue is unavailable".to_owned())?.push_back(command);
        Ok(Some(job.view()))
    }

    /// Every job with its watched state, for the dashboard.
    pub fn watch_all(&self) -> Vec<WatchedJob> {
        let jobs: Vec<Arc<Job>> = self.jobs.lock().map(|j| j.values().cloned().collect()).unwrap_or_default();
        jobs.iter().map(|job| WatchedJob { job: job.view(), watch: job.stats.watch.view() }).collect()
    }

    /// Every job's stats, for the metrics endpoint.
    pub fn stats(&self) -> Vec<(String, String, JobState, Arc<JobStats>)> {
        self.jobs
            .lock()
            .map(|j| {
                j.values().map(|job| (job.id.clone(), job.name.clone(), job.state(), Arc::clone(&job.stats))).collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_their_folder() {
        let base = Path::new("/srv/data");
        assert_eq!(confine(base, Path::new("a/ticks.csv"), "source.ticks").unwrap(), base.join("a/ticks.csv"));
        for bad in ["/etc/passwd", "../secrets.csv", "a/../../b", ""] {
            let e = confine(base, Path::new(bad), "source.ticks").unwrap_err();
            assert!(e.starts_with("source.ticks = "), "{e}");
        }
    }
}
