//! The `tradeflow` command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{ArgAction, Parser, Subcommand};
use std::time::Duration;

use tradeflow::commands::{client, kafka, questdb};
use tradeflow::config::{JobConfig, JobPlan};
use tradeflow::connectors::kafka::Kafka;
use tradeflow::job::{JobStats, MANIFEST, RunOptions, RunSummary, STREAMS, run_with};
use tradeflow::report::html;
use tradeflow::report::tearsheet::{Period, equity_curve, render, symbol_pnl, tearsheet};
use tradeflow::server;

#[derive(Parser)]
#[command(name = "tradeflow", version, about = "A streaming trading pipeline on Timely Dataflow")]
struct Cli {
    /// Log format on stderr: text or json (levels from RUST_LOG; default warn).
    #[arg(long, global = true, default_value = "text")]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a job to completion and print its summary.
    #[command(disable_help_flag = true)]
    Run {
        /// The job config (TOML).
        config: PathBuf,
        /// Worker threads per process (default: job.workers).
        #[arg(short, long)]
        workers: Option<usize>,
        /// Cluster mode: the number of processes.
        #[arg(short = 'n', long, default_value_t = 1)]
        processes: usize,
        /// Cluster mode: this process's index, from 0.
        #[arg(short = 'p', long, default_value_t = 0)]
        process: usize,
        /// Cluster mode: a file with one host:port per line, one per process.
        #[arg(short = 'h', long)]
        hostfile: Option<PathBuf>,
        /// Cluster mode: seconds to wait for every process to connect before giving up (0: for ever).
        #[arg(long, default_value_t = 120, value_name = "SECONDS")]
        join_timeout_s: u64,
        /// The run's output folder (default: output.dir).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// No progress line.
        #[arg(short, long)]
        quiet: bool,
        /// Serve Prometheus metrics of this run on ADDR (e.g. 127.0.0.1:9464) at /metrics.
        #[arg(long)]
        metrics_listen: Option<std::net::SocketAddr>,
        /// Print help.
        #[arg(long, action = ArgAction::Help)]
        help: Option<bool>,
    },
    /// Score a file of articles (CSV or JSONL: id, ts, headline, body, symbols) with a sentiment backend.
    Sentiment {
        /// Articles: CSV, or JSONL (`.jsonl`).
        #[arg(long)]
        input: PathBuf,
        /// One row per (article, symbol): CSV, or JSONL (`.jsonl`).
        #[arg(long)]
        output: PathBuf,
        /// A job config whose `[sentiment]` section configures the backends (default: the lexicon).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The backend to use instead of the config's `sentiment.backend` (`lexicon`, `router`, or a backend's name).
        #[arg(long)]
        backend: Option<String>,
    },
    /// Compute indicators for every bar of a CSV or Parquet file (columns ts,symbol,open,high,low,close,volume).
    Indicators {
        /// Bars: CSV or Parquet, several symbols may be interleaved.
        #[arg(long)]
        input: PathBuf,
        /// Where to write: CSV or Parquet, by extension.
        #[arg(long)]
        output: PathBuf,
        /// Comma-separated indicator names (e.g. `rsi_14,macd_12_26_9`); default: all at TA-Lib's defaults.
        #[arg(long)]
        set: Option<String>,
    },
    /// Fit GARCH(1,1) per symbol to the log returns of the close of a bar file (the columns of `indicators`).
    Garch {
        /// Bars: CSV or Parquet, several symbols may be interleaved.
        #[arg(long)]
        input: PathBuf,
        /// Where to write one row per symbol: CSV or Parquet, by extension.
        #[arg(long)]
        output: PathBuf,
        /// Fix the mean at zero instead of fitting a constant mean.
        #[arg(long)]
        zero_mean: bool,
        /// Bars per year, for the annualized forecast (252 for daily bars, 98280 for minutes of US sessions).
        #[arg(long, default_value_t = 252.0)]
        periods_per_year: f64,
        /// `off`, `auto` (the GPU when one can be used) or `require`.
        #[arg(long, default_value = "auto")]
        gpu: String,
    },
    /// Print a finished run's tearsheet and write it to RUN_DIR/report.json.
    Report {
        /// The run's output folder.
        run_dir: PathBuf,
        /// Sampling period of the returns: 1m or 1d (default: 1d for runs of 20 days or more).
        #[arg(long)]
        period: Option<String>,
    },
    /// Check a job config and say precisely what is wrong, without running anything.
    Validate {
        /// The job config (TOML).
        config: PathBuf,
    },
    /// Manage Kafka topics.
    Topics {
        #[command(subcommand)]
        action: TopicsAction,
    },
    /// Send ticks, news or control commands from a file (CSV or JSON Lines) or the simulator to a topic.
    Produce {
        /// ticks, news or control.
        kind: String,
        /// The topic to write to.
        #[arg(long)]
        topic: String,
        /// Kafka bootstrap servers, host:port[,host:port...].
        #[arg(long, default_value = "127.0.0.1:9092")]
        brokers: String,
        /// The file to send.
        #[arg(long, conflicts_with = "simulate", required_unless_present = "simulate")]
        input: Option<PathBuf>,
        /// Instead of a file: the simulator of this job config.
        #[arg(long)]
        simulate: Option<PathBuf>,
        /// At most this many messages per second (default: as fast as the brokers take them).
        #[arg(long)]
        rate: Option<f64>,
        /// Replay in event time, this many times faster than it happened (1: real time).
        #[arg(long)]
        speed: Option<f64>,
    },
    /// Print the messages of a topic.
    Consume {
        /// The topic to read.
        topic: String,
        /// Kafka bootstrap servers, host:port[,host:port...].
        #[arg(long, default_value = "127.0.0.1:9092")]
        brokers: String,
        /// Start at the beginning of each partition (default: only new messages).
        #[arg(long)]
        from_beginning: bool,
        /// table or json.
        #[arg(long, default_value = "table")]
        format: String,
        /// Stop after this many messages.
        #[arg(long)]
        max: Option<u64>,
        /// Stop after this many seconds without a message.
        #[arg(long)]
        idle_s: Option<f64>,
    },
    /// Run SQL against QuestDB's REST endpoint and print the rows.
    Sql {
        /// The query (or use --file).
        query: Option<String>,
        /// A file of statements separated by `;`, run in order.
        #[arg(long, conflicts_with = "query")]
        file: Option<PathBuf>,
        /// QuestDB's HTTP address (default: $QDB_HTTP_URL, else http://127.0.0.1:9000).
        #[arg(long)]
        url: Option<String>,
        /// table, csv or json (one object per line).
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Serve the job API (submit, watch, steer, stop jobs) and Prometheus metrics.
    Serve {
        /// Where to listen (loopback unless told otherwise).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// A file whose first line is the bearer token (default: $TRADEFLOW_TOKEN).
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Input files of submitted jobs are relative to, and must stay inside, this folder.
        #[arg(long, default_value = ".")]
        data_dir: PathBuf,
        /// Output folders of submitted jobs are relative to, and must stay inside, this folder.
        #[arg(long, default_value = "runs")]
        runs_dir: PathBuf,
        /// Worker threads per job (default: the job's job.workers).
        #[arg(short, long)]
        workers: Option<usize>,
    },
    /// Submit a job config (TOML, or JSON by extension) to a job server.
    Submit {
        config: PathBuf,
        /// The server (default: $TRADEFLOW_SERVER, else http://127.0.0.1:8080).
        #[arg(long)]
        server: Option<String>,
        /// A file whose first line is the bearer token (default: $TRADEFLOW_TOKEN).
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// List a job server's jobs.
    Jobs {
        #[arg(long)]
        server: Option<String>,
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// Stop a job gracefully (its sources stop, the graph drains, sinks flush, offsets commit).
    Stop {
        id: String,
        #[arg(long)]
        server: Option<String>,
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
    /// Manage QuestDB tables.
    Questdb {
        #[command(subcommand)]
        action: QuestDbAction,
    },
}

#[derive(Subcommand)]
enum QuestDbAction {
    /// Create the tables of deploy/questdb/schema.sql (existing ones are left as they are).
    Init {
        /// QuestDB's HTTP address (default: $QDB_HTTP_URL, else http://127.0.0.1:9000).
        #[arg(long)]
        url: Option<String>,
        /// The schema file.
        #[arg(long, default_value = "deploy/questdb/schema.sql")]
        schema: PathBuf,
    },
}

#[derive(Subcommand)]
enum TopicsAction {
    /// Create topics (existing ones are left as they are).
    Create {
        /// The topic names.
        #[arg(required = true)]
        topics: Vec<String>,
        /// Partitions per topic.
        #[arg(long, default_value_t = 4)]
        partitions: i32,
        /// Kafka bootstrap servers, host:port[,host:port...].
        #[arg(long, default_value = "127.0.0.1:9092")]
        brokers: String,
    },
}

/// Runs a command that returns a line to print; errors exit with 2.
fn finish(result: anyhow::Result<String>) -> ExitCode {
    match result {
        Ok(line) => {
            if !line.is_empty() {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn load(path: &Path) -> Result<JobPlan, String> {
    let file = path.display().to_string();
    let config = JobConfig::load(path).map_err(|e| e.to_string())?;
    config.validate(&file).map_err(|e| e.to_string())
}

fn print_summary(s: &RunSummary) {
    let count = |k: &str| s.rows.get(k).copied().unwrap_or(0);
    println!("{}: finished in {:.2} s on {} worker(s) x {} process(es)", s.name, s.wall_s, s.workers, s.processes);
    println!("  ticks        {:>12}  ({} symbols, {:.0} ticks/s)", s.ticks, s.symbols, s.ticks_per_s);
    for stream in STREAMS.iter().filter(|s| **s != "ticks") {
        println!("  {stream:<12} {:>12}", count(stream));
    }
    match &s.final_pnl {
        Some(p) => println!(
            "  final P&L    {:>+12.2}  ({:+.3}%; realized {:+.2}, unrealized {:+.2}, fees {:.2}; equity {:.2})",
            p.equity - s.initial_cash,
            (p.equity / s.initial_cash - 1.0) * 100.0,
            p.realized,
            p.unrealized,
            p.fees,
            p.equity
        ),
        None => println!("  final P&L    no trades or marks"),
    }
    for (table, rows) in &s.questdb_rows {
        println!("  questdb      {rows:>12}  rows into {table}");
    }
    if s.questdb_rejected > 0 {
        println!("  questdb      {:>12}  rows refused (see questdb_rejects/)", s.questdb_rejected);
    }
    for (model, c) in &s.models {
        let errors: u64 = c.errors.values().sum();
        println!(
            "  model        {model}: {} calls ({} articles), {errors} errors, {} fallbacks, {} tokens, ${:.6}, {:.2} s mean",
            c.calls,
            c.articles,
            c.fallbacks,
            c.prompt_tokens + c.completion_tokens,
            c.cost_usd,
            c.latency_seconds_sum / c.calls.max(1) as f64
        );
    }
    println!("  output       {}", s.output_dir.display());
    println!(
        "summary: {} ticks, {} orders, {} fills, {} dead letters, P&L {:+.2}, {:.2} s wall, {:.0} ticks/s",
        s.ticks,
        count("orders"),
        count("fills"),
        s.dead_letters,
        s.final_pnl.as_ref().map_or(0.0, |p| p.equity - s.initial_cash),
        s.wall_s,
        s.ticks_per_s
    );
}

/// The tearsheet of a run folder, written to `report.json` and `report.html`, and returned as text.
fn report(run_dir: &Path, period: Option<&str>) -> anyhow::Result<String> {
    let period = period.map(Period::parse).transpose().map_err(anyhow::Error::msg)?;
    let manifest = run_dir.join(MANIFEST);
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&manifest).with_context(|| format!("{}: not a tradeflow run", manifest.display()))?,
    )
    .with_context(|| format!("{}: unreadable", manifest.display()))?;
    if summary["state"] == "running" {
        anyhow::bail!("{}: the run has not finished (or was stopped before it did): no report", run_dir.display());
    }
    let initial =
        summary["initial_cash"].as_f64().with_context(|| format!("{}: no initial_cash", manifest.display()))?;
    let sheet = tearsheet(run_dir, initial, period)?;
    let json = serde_json::to_string_pretty(&sheet)?;
    std::fs::write(run_dir.join("report.json"), json)?;
    let name = summary["name"].as_str().unwrap_or("run");
    let page = html::page(name, &sheet, &equity_curve(run_dir)?, &symbol_pnl(run_dir)?)?;
    std::fs::write(run_dir.join("report.html"), page)?;
    Ok(format!("tearsheet of {} (report.json, report.html)\n{}", run_dir.display(), render(&sheet)))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    match cli.log_format.as_str() {
        "json" => tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init(),
        "text" => tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init(),
        other => {
            eprintln!("error: --log-format {other}: expected text or json");
            return ExitCode::from(2);
        }
    }
    match cli.command {
        Command::Serve { listen, token_file, data_dir, runs_dir, workers } => finish((|| {
            let token = server::load_token(token_file.as_ref(), client::TOKEN_ENV)?;
            let confinement = server::Confinement { data_dir, runs_dir };
            server::serve(server::ServeOptions { listen, token, confinement, workers })?;
            Ok(String::new())
        })()),
        Command::Submit { config, server, token_file } => {
            finish(client::Client::new(server.as_deref(), token_file.as_ref()).and_then(|c| c.submit(&config)))
        }
        Command::Jobs { server, token_file } => {
            finish(client::Client::new(server.as_deref(), token_file.as_ref()).and_then(|c| c.jobs()))
        }
        Command::Stop { id, server, token_file } => {
            finish(client::Client::new(server.as_deref(), token_file.as_ref()).and_then(|c| c.stop(&id)))
        }
        Command::Topics { action: TopicsAction::Create { topics, partitions, brokers } } => {
            finish(Kafka { brokers }.create_topics(&topics, partitions).map(|created| {
                created
                    .iter()
                    .map(|(name, new)| {
                        format!(
                            "{name}: {}",
                            if *new { format!("created, {partitions} partitions") } else { "exists".into() }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            }))
        }
        Command::Produce { kind, topic, brokers, input, simulate, rate, speed } => finish((|| {
            let kind = kafka::Kind::parse(&kind).map_err(anyhow::Error::msg)?;
            let source = match (&input, &simulate) {
                (Some(path), _) => kafka::Input::File(path),
                (None, Some(config)) => kafka::Input::Simulate(config),
                (None, None) => anyhow::bail!("give --input FILE or --simulate CONFIG"),
            };
            let done = kafka::produce(&Kafka { brokers }, kind, source, &topic, kafka::Pacing { rate, speed })?;
            Ok(format!("{topic}: {} sent, {} skipped", done.sent, done.skipped))
        })()),
        Command::Consume { topic, brokers, from_beginning, format, max, idle_s } => finish((|| {
            let format = kafka::Format::parse(&format).map_err(anyhow::Error::msg)?;
            let idle = idle_s.map(Duration::from_secs_f64);
            kafka::consume(&Kafka { brokers }, &topic, from_beginning, format, max, idle)?;
            Ok(String::new())
        })()),
        Command::Sql { query, file, url, format } => finish((|| {
            let format = questdb::Format::parse(&format).map_err(anyhow::Error::msg)?;
            questdb::sql(&questdb::client(url.as_deref()), query.as_deref(), file.as_deref(), format)
        })()),
        Command::Questdb { action: QuestDbAction::Init { url, schema } } => {
            finish(questdb::init(&questdb::client(url.as_deref()), &schema))
        }
        Command::Report { run_dir, period } => match report(&run_dir, period.as_deref()) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Sentiment { input, output, config, backend } => {
            match tradeflow::commands::sentiment::run(&input, &output, config.as_deref(), backend.as_deref()) {
                Ok(s) => {
                    let models: Vec<String> = s.by_model.iter().map(|(m, n)| format!("{m} {n}")).collect();
                    println!(
                        "{}: {} articles ({} skipped), {} rows in {:.2} s ({:.0} articles/s), cost ${:.6}; rows by model: {}",
                        output.display(),
                        s.articles,
                        s.rejected,
                        s.rows,
                        s.seconds,
                        s.articles as f64 / s.seconds.max(1e-9),
                        s.cost_usd,
                        models.join(", ")
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Indicators { input, output, set } => {
            match tradeflow::commands::indicators::run(&input, &output, set.as_deref()) {
                Ok((bars, columns)) => {
                    println!("{}: {bars} bars, {columns} indicator columns", output.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Garch { input, output, zero_mean, periods_per_year, gpu } => {
            let fitted = gpu
                .parse::<tradeflow_kernels::GpuPolicy>()
                .map_err(|e| anyhow::anyhow!("--gpu: {e}"))
                .and_then(|gpu| {
                    let args = tradeflow::commands::garch::GarchArgs { zero_mean, periods_per_year, gpu };
                    tradeflow::commands::garch::run(&input, &output, &args)
                });
            match fitted {
                Ok(fits) => {
                    println!("{}: GARCH(1,1) for {} symbols", output.display(), fits.len());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Validate { config } => match load(&config) {
            Ok(plan) => {
                println!(
                    "{}: ok (job `{}`, {} symbols, {} indicator columns)",
                    config.display(),
                    plan.name,
                    plan.symbols.len(),
                    plan.trading.indicators.columns().len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        Command::Run {
            config,
            workers,
            processes,
            process,
            hostfile,
            join_timeout_s,
            output,
            quiet,
            metrics_listen,
            help: _,
        } => {
            let plan = match load(&config) {
                Ok(plan) => plan,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let join_timeout = (join_timeout_s > 0).then(|| std::time::Duration::from_secs(join_timeout_s));
            let opts = RunOptions {
                workers,
                processes,
                process,
                hostfile,
                join_timeout,
                output,
                progress: !quiet,
                ..RunOptions::default()
            };
            let stats = Arc::new(JobStats::default());
            // SIGINT or SIGTERM: stop gracefully (sources stop, the graph drains, sinks flush,
            // offsets commit); a second one ends the process at once.
            let stop = Arc::clone(&stats.stop);
            let handler = ctrlc::set_handler(move || {
                if stop.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    eprintln!("\nstopping now");
                    std::process::exit(130);
                }
                eprintln!("\nstopping: draining the graph and flushing the sinks (again to quit at once)");
            });
            if let Err(e) = handler {
                eprintln!("warning: no graceful stop on SIGINT/SIGTERM: {e}");
            }
            if let Some(addr) = metrics_listen {
                let name = plan.name.clone();
                if let Err(e) = server::metrics::serve_one(addr, name, Arc::clone(&stats)) {
                    eprintln!("error: --metrics-listen {addr}: {e:#}");
                    return ExitCode::from(2);
                }
            }
            match run_with(plan, &opts, stats) {
                Ok(summary) => {
                    print_summary(&summary);
                    if summary.final_pnl.is_some() && summary.parquet {
                        match report(&summary.output_dir, None) {
                            Ok(text) => print!("{text}"),
                            Err(e) => eprintln!("warning: no tearsheet: {e:#}"),
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
