//! Helpers for the end-to-end tests: run the binary, read its Parquet outputs back.

#![allow(dead_code)]

pub mod cluster;
pub mod llama;
pub mod ports;
pub mod questdb;
pub mod restarts;
pub mod s3;
pub mod server;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampNanosecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// How long any one run of the binary in a test may take: far longer than any does, so that
/// a hang fails its own test, with what it printed, rather than the whole test run.
const RUN_BOUND: Duration = Duration::from_secs(600);

/// Runs `tradeflow ARGS...` and returns its output (not checking the status).
pub fn tradeflow(args: &[&str]) -> Output {
    tradeflow_within(args, RUN_BOUND)
}

/// Runs `tradeflow ARGS...` and returns its output (not checking the status); panics, after
/// killing it, if it still runs after `within`.
pub fn tradeflow_within(args: &[&str], within: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tradeflow"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the tradeflow binary runs");
    // Read as it prints, so that a full pipe never stalls it.
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));
    let Some(status) = exit_within(&mut child, within) else {
        let _ = child.kill();
        let _ = child.wait();
        let stderr = stderr.join().unwrap_or_default();
        panic!("tradeflow {args:?} still ran after {within:?}: {}", String::from_utf8_lossy(&stderr));
    };
    Output { status, stdout: stdout.join().unwrap_or_default(), stderr: stderr.join().unwrap_or_default() }
}

/// `child`'s exit status, once it has ended within `within` (`None`: it still runs).
pub fn exit_within(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("a child's status") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Everything `pipe` gives until it closes, read on a thread of its own.
fn drain(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = pipe.read_to_end(&mut text);
        text
    })
}

/// Runs `tradeflow ARGS...`, insists that it succeeds, and returns what it printed.
pub fn ok(args: &[&str]) -> String {
    let out = tradeflow(args);
    assert!(out.status.success(), "tradeflow {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The ensemble strategy on short averages (3 and 8 one-minute bars), so that a simulated
/// half hour trades; trend and technical components only.
pub const FAST_ENSEMBLE: &str = r#"
[indicators]
set = ["ema_3", "ema_8", "rsi_5"]

[strategy]
kind = "ensemble"
fast = "ema_3"
slow = "ema_8"
rsi = "rsi_5"
macd_hist = ""
bbands = ""
breakout = ""
support = ""
"#;

/// The symbol names of a simulator job config, as `tradeflow produce --simulate` writes them.
pub fn simulator_names(config: &str) -> Vec<String> {
    match tradeflow::config::JobConfig::parse(config, "sim.toml").expect("a valid config").source {
        tradeflow::config::SourceSection::Simulator(sim) => sim.symbol_names(),
        _ => panic!("not a simulator config"),
    }
}

/// A job of `workers` reading `ticks` and `news` from Kafka with [`FAST_ENSEMBLE`], finishing
/// 4 s after the last message; `extra` is appended (more sections).
pub fn kafka_job(name: &str, workers: usize, brokers: &str, group: &str, symbols: &[String], extra: &str) -> String {
    let symbols: Vec<String> = symbols.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        "[job]\nname = \"{name}\"\nworkers = {workers}\n[source]\nkind = \"kafka\"\nbrokers = \"{brokers}\"\ngroup = \"{group}\"\nticks = \"ticks\"\nnews = \"news\"\nsymbols = [{}]\nstop_after_idle_s = 4\n{FAST_ENSEMBLE}{extra}",
        symbols.join(", ")
    )
}

/// Runs `tradeflow run CONFIG --quiet -o OUT EXTRA...` and insists that it succeeds.
pub fn run_job(config: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", config.to_str().unwrap(), "--quiet", "-o", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let output = tradeflow(&args);
    assert!(
        output.status.success(),
        "tradeflow {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A tansu broker (a Kafka-protocol broker) of this test's own, on a free 127.0.0.1 port with
/// memory storage (or S3 storage, [`Tansu::start_persistent`]); stopped when dropped.
/// `deploy/scripts/test.sh` installs the binary.
pub struct Tansu {
    child: std::process::Child,
    pub brokers: String,
    port: u16,
    /// The object store of a broker whose topics outlive its process.
    s3: Option<s3::S3Server>,
}

impl Tansu {
    pub fn start() -> Tansu {
        Tansu::start_on(None)
    }

    /// A broker that keeps its topics in an S3 object store of its own: they outlive a
    /// [`kill`](Self::kill) and [`start_again`](Self::start_again) of the broker process.
    pub fn start_persistent() -> Tansu {
        Tansu::start_on(Some(s3::S3Server::start("tansu")))
    }

    fn start_on(s3: Option<s3::S3Server>) -> Tansu {
        let (child, ports) = ports::spawn_listening("tansu", 1, std::time::Duration::from_secs(20), |ports| {
            Tansu::command(ports[0], s3.as_ref())
        });
        let brokers = format!("127.0.0.1:{}", ports[0]);
        Tansu { child, brokers, port: ports[0], s3 }
    }

    fn command(port: u16, s3: Option<&s3::S3Server>) -> Command {
        let bin = std::env::var_os("TANSU_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/tansu"));
        assert!(
            bin.exists(),
            "the Kafka tests need the tansu broker at {} (run ./deploy/scripts/test.sh once: it installs it)",
            bin.display()
        );
        let url = format!("tcp://127.0.0.1:{port}");
        let mut command = Command::new(&bin);
        command
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        match s3 {
            None => command.args(["--storage-engine", "memory://tansu/"]),
            Some(s3) => command
                .args(["--storage-engine", "s3://tansu/"])
                .env("AWS_ENDPOINT", &s3.endpoint)
                .env("AWS_ALLOW_HTTP", "true")
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test"),
        };
        command
    }

    /// Kills the broker process (SIGKILL): its connections drop, and nothing answers on its
    /// port until [`start_again`](Self::start_again).
    pub fn kill(&mut self) {
        self.child.kill().expect("killing tansu");
        self.child.wait().expect("reaping tansu");
    }

    /// Starts a killed broker again, on the same port and storage.
    pub fn start_again(&mut self) {
        self.child = Tansu::command(self.port, self.s3.as_ref()).spawn().expect("starting tansu again");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !ports::listens(self.child.id(), self.port) {
            let exited = self.child.try_wait().ok().flatten();
            assert!(exited.is_none(), "tansu exited at its restart ({exited:?}): is port {} taken?", self.port);
            assert!(std::time::Instant::now() < deadline, "tansu did not listen on {} again within 20 s", self.port);
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Tansu {
    /// Topics `ticks` (4 partitions) and `news` (2) filled by the simulator config at `sim`.
    pub fn load_simulated(&self, sim: &Path) {
        let (b, sim) = (self.brokers.as_str(), sim.to_str().unwrap());
        ok(&["topics", "create", "ticks", "--partitions", "4", "--brokers", b]);
        ok(&["topics", "create", "news", "--partitions", "2", "--brokers", b]);
        ok(&["produce", "ticks", "--simulate", sim, "--topic", "ticks", "--brokers", b]);
        ok(&["produce", "news", "--simulate", sim, "--topic", "news", "--brokers", b]);
    }

    /// Stops the broker process (SIGSTOP): it holds its connections and answers nothing, as a
    /// broker that hangs or a network that drops everything.
    pub fn pause(&self) {
        let status = Command::new("kill").args(["-STOP", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "could not stop tansu");
    }

    /// Lets a paused broker go on (SIGCONT).
    pub fn resume(&self) {
        let status = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "could not continue tansu");
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every row of one output stream, across the part files of all workers.
pub struct Table {
    pub batches: Vec<RecordBatch>,
}

impl Table {
    pub fn read(run: &Path, stream: &str) -> Table {
        Table::read_all(&[run], stream)
    }

    /// One stream of several runs together (the processes of one cluster run, each with its
    /// own output folder).
    pub fn read_all(runs: &[&Path], stream: &str) -> Table {
        let mut batches = Vec::new();
        for run in runs {
            batches.extend(Table::read_one(run, stream).batches);
        }
        Table { batches }
    }

    fn read_one(run: &Path, stream: &str) -> Table {
        let folder = run.join(stream);
        let mut parts: Vec<PathBuf> = std::fs::read_dir(&folder)
            .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        parts.sort();
        assert!(!parts.is_empty(), "no part files in {}", folder.display());
        let mut batches = Vec::new();
        for part in parts {
            let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&part).unwrap()).unwrap().build().unwrap();
            batches.extend(reader.map(Result::unwrap));
        }
        Table { batches }
    }

    pub fn len(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn column(&self, name: &str) -> impl Iterator<Item = &dyn Array> {
        self.batches
            .iter()
            .map(move |b| b.column_by_name(name).unwrap_or_else(|| panic!("no column `{name}`")).as_ref())
    }

    pub fn f64(&self, name: &str) -> Vec<f64> {
        self.column(name)
            .flat_map(|a| a.as_primitive::<Float64Type>().iter().map(|v| v.unwrap_or(f64::NAN)).collect::<Vec<_>>())
            .collect()
    }

    pub fn ts(&self, name: &str) -> Vec<i64> {
        self.column(name).flat_map(|a| a.as_primitive::<TimestampNanosecondType>().values().to_vec()).collect()
    }

    pub fn u64(&self, name: &str) -> Vec<u64> {
        self.column(name).flat_map(|a| a.as_primitive::<UInt64Type>().values().to_vec()).collect()
    }

    pub fn text(&self, name: &str) -> Vec<String> {
        self.column(name)
            .flat_map(|a| a.as_string::<i32>().iter().map(|v| v.unwrap_or("").to_owned()).collect::<Vec<_>>())
            .collect()
    }

    /// Every row as text, sorted, leaving out `skip` columns: for comparing whole outputs.
    pub fn sorted_rows(&self, skip: &[&str]) -> Vec<String> {
        let mut rows = Vec::new();
        for batch in &self.batches {
            for r in 0..batch.num_rows() {
                let mut row = Vec::new();
                for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
                    if skip.contains(&field.name().as_str()) {
                        continue;
                    }
                    let cell = if col.is_null(r) {
                        "null".to_owned()
                    } else {
                        match field.data_type() {
                            DataType::Float64 => {
                                format!("{:?}", col.as_primitive::<Float64Type>().value(r))
                            }
                            DataType::UInt64 => col.as_primitive::<UInt64Type>().value(r).to_string(),
                            DataType::Timestamp(..) => {
                                col.as_primitive::<TimestampNanosecondType>().value(r).to_string()
                            }
                            DataType::Utf8 => col.as_string::<i32>().value(r).to_owned(),
                            other => panic!("unexpected column type {other}"),
                        }
                    };
                    row.push(format!("{}={cell}", field.name()));
                }
                rows.push(row.join(" "));
            }
        }
        rows.sort();
        rows
    }
}

/// Writes a job config into `dir` and returns its path.
pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The golden comparison rule: within 1e-9 relative (1e-12 absolute near zero) of TA-Lib; a
/// slope is compared to the price level (see tests/talib_golden.rs and the README).
pub fn matches_talib(column: &str, got: f64, expected: f64, close: f64) -> bool {
    let mut tolerance = (1e-9 * expected.abs()).max(1e-12);
    if column.starts_with("linearreg_slope") {
        tolerance = tolerance.max(1e-9 * close.abs() / 14.0);
    }
    !got.is_nan() && (got - expected).abs() <= tolerance
}
