//! Bad input never stops the job: each malformed, unknown, late or far-future row is counted
//! and written to the dead letters with the file, the line and the reason.

mod common;

use std::fmt::Write as _;

use common::{Table, run_job, write_config};

#[test]
fn malformed_rows_go_to_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let start = 1_704_205_800i64; // 2024-01-02T14:30:00Z
    let mut ticks = String::from("ts,symbol,price,size,bid,ask\n");
    // (line 2..) good rows for two minutes, two symbols, one a second.
    for s in 0..120 {
        writeln!(ticks, "{},AAA,{:.2},10,,", (start + s) * 1_000_000_000, 100.0 + s as f64 * 0.01).unwrap();
        writeln!(ticks, "{},BBB,{:.2},5,49.99,50.01", (start + s) * 1_000_000_000 + 500_000_000, 50.0).unwrap();
    }
    let good = 240;
    let bad_rows = [
        ("2024-01-02T14:32:00Z,AAA,abc,10,,", "column `price`: `abc` is not a number"),
        ("2024-01-02T14:32:00Z,AAA,,10,,", "missing field `price`"),
        ("2024-01-02T14:32:00Z,ZZZ,10,1,,", "unknown symbol `ZZZ`"),
        ("2024-01-02T14:32:00Z,AAA,-3,1,,", "price must be positive"),
        ("yesterday,AAA,100,1,,", "column `ts`: `yesterday` is not a time"),
        ("2024-01-02T14:32:00Z,AAA,100,1,nan,", "not a finite number"),
        ("2024-01-02T14:30:10Z,AAA,100,1,,", "late: event time"),
        ("2099-01-01T00:00:00Z,AAA,100,1,,", "too far in the future"),
        ("2024-01-02T14:32:00Z", "missing field `symbol`"),
    ];
    let first_bad_line = good + 2;
    for (row, _) in &bad_rows {
        writeln!(ticks, "{row}").unwrap();
    }
    // Slightly out of order but within the allowed lateness: accepted.
    writeln!(ticks, "2024-01-02T14:31:59.500Z,AAA,101,1,,").unwrap();
    writeln!(ticks, "2024-01-02T14:32:01Z,AAA,101,1,,").unwrap();
    std::fs::write(dir.path().join("ticks.csv"), ticks).unwrap();

    let news = [
        r#"{"id":"n1","ts":"2024-01-02T14:30:30Z","source":"wire","headline":"AAA beats estimates","symbols":["AAA"]}"#,
        r#"{"id":"n2","ts":"2024-01-02T14:30:40Z","symbols":["AAA"]}"#,
        r#"{"id":"n3","ts":"2024-01-02T14:30:50Z","headline":"QQQ soars","symbols":["QQQ"]}"#,
        "\u{0}\u{1}garbage bytes",
        r#"{"id":"n4","ts":"2024-01-02T14:31:00Z","headline":"BBB misses","symbols":["BBB"],"unknown_field":true}"#,
    ];
    std::fs::write(dir.path().join("news.jsonl"), news.join("\n")).unwrap();
    std::fs::write(dir.path().join("control.jsonl"), "{\"ts\":\"2024-01-02T14:31:00Z\",\"command\":\"explode\"}\n")
        .unwrap();

    let d = dir.path().display();
    let config = write_config(
        dir.path(),
        "files.toml",
        &format!(
            r#"
[job]
name = "malformed"
allowed_lateness_ms = 1000
max_ahead_s = 3600

[source]
kind = "files"
ticks = "{d}/ticks.csv"
news = "{d}/news.jsonl"
control = "{d}/control.jsonl"
symbols = ["AAA", "BBB"]
"#
        ),
    );
    let out = dir.path().join("run");
    let output = run_job(&config, &out, &["-w", "2"]);
    let stdout = String::from_utf8_lossy(&output.stdout);

    let accepted = Table::read(&out, "ticks");
    assert_eq!(accepted.len(), good + 2, "good rows and the slightly-late one are kept");
    let dead = Table::read(&out, "dead_letters");
    let (origin, reason, raw) = (dead.text("origin"), dead.text("reason"), dead.text("raw"));
    let letters: Vec<String> = (0..dead.len()).map(|i| format!("{} | {} | {}", origin[i], reason[i], raw[i])).collect();
    for (k, (row, why)) in bad_rows.iter().enumerate() {
        let at = format!("ticks.csv:{}", first_bad_line + k);
        assert!(
            letters.iter().any(|l| l.contains(&at) && l.contains(why)),
            "row `{row}` should be dead-lettered at {at} with `{why}`; letters:\n{}",
            letters.join("\n")
        );
    }
    for (line, why) in
        [(2, "missing field `headline`"), (3, "names no symbol of source.symbols"), (4, "expected value")]
    {
        let at = format!("news.jsonl:{line}");
        assert!(
            letters.iter().any(|l| l.contains(&at) && l.contains(why)),
            "news line {line}: `{why}`:\n{}",
            letters.join("\n")
        );
    }
    assert!(
        letters.iter().any(|l| l.contains("control.jsonl:1") && l.contains("unknown variant `explode`")),
        "{}",
        letters.join("\n")
    );
    assert_eq!(dead.len(), bad_rows.len() + 4, "{}", letters.join("\n"));
    assert!(stdout.contains(&format!("{} dead letters", bad_rows.len() + 4)), "{stdout}");

    // The good data went all the way through.
    assert_eq!(Table::read(&out, "news").len(), 2);
    assert_eq!(Table::read(&out, "bars_1m").len(), 2 * 2 + 1, "two full minutes per symbol, and AAA's last minute");
}
