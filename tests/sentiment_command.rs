//! `tradeflow sentiment` on a file: one row per (article, symbol), bad rows named and skipped,
//! an unknown backend refused before anything is scored.

mod common;

#[test]
fn scores_each_article_for_each_symbol_and_names_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("news.csv");
    std::fs::write(
        &input,
        "id,ts,headline,body,symbols,source\n\
         a1,2024-01-02T14:30:00Z,ACME beats estimates. BETA plunges on fraud probe,,ACME|BETA,wire\n\
         a2,2024-01-02T14:31:00Z,GAMMA to hold annual meeting,,GAMMA,wire\n\
         a3,not-a-time,ACME soars,,ACME,wire\n",
    )
    .unwrap();
    let output = dir.path().join("scores.jsonl");
    let run =
        common::tradeflow(&["sentiment", "--input", input.to_str().unwrap(), "--output", output.to_str().unwrap()]);
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{stderr}");
    assert!(stdout.contains("2 articles (1 skipped), 3 rows"), "{stdout}");
    assert!(stderr.contains("news.csv:4") && stderr.contains("column `ts`"), "the bad row is named: {stderr}");
    let rows: Vec<serde_json::Value> =
        std::fs::read_to_string(&output).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let by_symbol = |s: &str| rows.iter().find(|r| r["symbol"] == s).unwrap_or_else(|| panic!("{s} in {rows:?}"));
    assert!(by_symbol("ACME")["score"].as_f64().unwrap() > 0.0, "scored on its own sentence");
    assert!(by_symbol("BETA")["score"].as_f64().unwrap() < 0.0, "scored on its own sentence");
    assert_eq!(by_symbol("GAMMA")["confidence"], serde_json::json!(0.0));
    assert!(rows.iter().all(|r| r["model"] == "lexicon-v1" && r["cost_usd"] == serde_json::json!(0.0)));
}

#[test]
fn an_unknown_backend_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("news.jsonl");
    std::fs::write(&input, r#"{"id": "a", "ts": 1, "headline": "ACME up", "symbols": ["ACME"]}"#).unwrap();
    let output = dir.path().join("out.csv");
    let args =
        ["sentiment", "--input", input.to_str().unwrap(), "--output", output.to_str().unwrap(), "--backend", "gpt"];
    let run = common::tradeflow(&args);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("sentiment.backend: no backend is named \"gpt\""), "{stderr}");
    assert!(!output.exists(), "nothing is written");
}
