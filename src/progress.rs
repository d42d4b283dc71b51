//! The progress line on stderr: records processed, event-time position, rate.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tradeflow_operators::Ts;
use tradeflow_operators::source::SourceStats;

use crate::timefmt::format_ts;

pub struct Progress {
    thread: JoinHandle<()>,
}

impl Progress {
    /// Starts updating a progress line every 200 ms until `done` is set. `span` is the
    /// event-time range of the input, when known, for a percentage.
    pub fn start(stats: Arc<SourceStats>, span: Option<(Ts, Ts)>, done: Arc<AtomicBool>) -> Self {
        let thread = std::thread::spawn(move || {
            let bar = match span {
                Some(_) => ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let template = if span.is_some() { "{bar:30} {percent:>3}% {msg}" } else { "{spinner} {msg}" };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            let started = Instant::now();
            while !done.load(Ordering::Relaxed) {
                let records = stats.records.load(Ordering::Relaxed);
                let dead = stats.dead_letters.load(Ordering::Relaxed);
                let ts = stats.max_ts.load(Ordering::Relaxed);
                let rate = records as f64 / started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!(
                    "{} ticks | event time {} | {:.0}k ticks/s | {dead} dead letters",
                    records,
                    if ts > 0 { format_ts(ts) } else { "-".into() },
                    rate / 1e3
                ));
                if let Some((start, end)) = span
                    && end > start
                    && ts > 0
                {
                    bar.set_position((((ts - start) as f64 / (end - start) as f64).clamp(0.0, 1.0) * 1000.0) as u64);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            bar.finish_and_clear();
        });
        Progress { thread }
    }

    pub fn finish(self) {
        let _ = self.thread.join();
    }
}
