//! Fault injection for the Parquet sink: a disk that fills up midway and an output folder that
//! cannot be made. Each must end the job with an error that names what failed, and leave no
//! file that looks complete but is not.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Table, write_config};

/// Half a simulated hour of 40 symbols: about 200,000 ticks (more than a row group per worker)
/// and 1,800 P&L rows.
const SESSION: &str = r#"
[job]
name = "faults"
workers = 2
read_ahead_s = 10

[source]
kind = "simulator"
seed = 3
symbols = 40
duration_s = 1800
ticks_per_second = 3.0
"#;

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() { found.extend(files(&path)) } else { found.push(path) }
    }
    found
}

#[test]
fn a_disk_that_fills_up_stops_the_job_with_the_error_and_leaves_no_half_written_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "job.toml", SESSION);
    let out = dir.path().join("out");
    // A full disk, as the process sees it: no file may grow past 192 KiB (writes past it fail
    // with EFBIG instead of the signal that would kill the process).
    let run = Command::new("bash")
        .arg("-c")
        .arg("ulimit -f 192; trap '' XFSZ; exec \"$0\" run \"$1\" --quiet -o \"$2\"")
        .arg(env!("CARGO_BIN_EXE_tradeflow"))
        .arg(&config)
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "the job must fail: {stderr}");
    assert!(stderr.contains("sink `ticks`: writing") && stderr.contains("File too large"), "{stderr}");
    assert!(stderr.contains(&out.join("ticks").display().to_string()), "the error names the file: {stderr}");

    let manifest = std::fs::read_to_string(out.join("run.json")).unwrap();
    assert!(manifest.contains("\"failed\"") && manifest.contains("File too large"), "{manifest}");
    // Nothing half-written is left, under a temporary name or a final one: every file there is
    // a whole Parquet file.
    for path in files(&out) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.starts_with('.') && !name.ends_with(".tmp"), "left behind: {}", path.display());
    }
    let pnl = Table::read(&out, "pnl").len();
    // The sources stopped when the write failed: the job did not read on to the end.
    assert!(pnl > 0 && pnl < 1800, "{pnl} P&L rows of 1800: the job should stop early, with what it had written kept");
}

#[test]
fn an_output_folder_that_cannot_be_made_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "job.toml", SESSION);
    // A folder inside a plain file cannot exist, whoever runs the job (root included).
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, "").unwrap();
    let out = blocker.join("out");
    let run = common::tradeflow(&["run", config.to_str().unwrap(), "--quiet", "-o", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(stderr.contains(&out.display().to_string()), "the error names the folder: {stderr}");
    assert_eq!(std::fs::read(&blocker).unwrap(), b"", "nothing was written");
}
