//! Regression: one worker draining a backlog of four partitions. A fetch brings megabytes of
//! one partition at a time; read from the consumer's shared queue, that backlog held the other
//! partitions back for seconds, long enough to count as idle, and their ticks went to the dead
//! letters as late (seen: 209,453 of 1,799,940). Each partition now has its queue, read in turn.

mod common;

use common::{Table, Tansu, ok, run_job, simulator_names, write_config};

#[test]
fn a_backlog_on_four_partitions_is_read_without_late_ticks() {
    let broker = Tansu::start();
    let b = broker.brokers.as_str();
    let dir = tempfile::tempdir().unwrap();
    // 200 symbols x about 3 ticks a second x 1500 s: some 900,000 ticks, 90 MB of JSON.
    let sim = "[job]\nname = \"sim\"\n[source]\nkind = \"simulator\"\nseed = 11\nsymbols = 200\nstart = \"2024-03-05T14:30:00Z\"\nduration_s = 1500\nticks_per_second = 3.0\nnews_per_hour = 0\n";
    let names = simulator_names(sim);
    let sim_path = write_config(dir.path(), "sim.toml", sim);
    ok(&["topics", "create", "ticks", "--partitions", "4", "--brokers", b]);
    let sent = ok(&["produce", "ticks", "--simulate", sim_path.to_str().unwrap(), "--topic", "ticks", "--brokers", b]);
    assert!(sent.contains(" 0 skipped"), "{sent}");
    let count: usize = sent.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a count of ticks sent");
    assert!(count > 800_000, "{sent}");

    // One worker, a partition idle after one second without a message (the default is two).
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let job = format!(
        "[job]\nname = \"backlog\"\nworkers = 1\n[source]\nkind = \"kafka\"\nbrokers = \"{b}\"\ngroup = \"backlog\"\nticks = \"ticks\"\nsymbols = [{}]\nstop_after_idle_s = 3\nidle_timeout_ms = 1000\n{}",
        quoted.join(", "),
        common::FAST_ENSEMBLE
    );
    let config = write_config(dir.path(), "job.toml", &job);
    let out = dir.path().join("run");
    run_job(&config, &out, &[]);
    let dead = Table::read(&out, "dead_letters");
    assert_eq!(dead.len(), 0, "late ticks: {:?}", dead.text("reason").first());
    assert_eq!(Table::read(&out, "ticks").len(), count);
}
