//! Every statement in deploy/questdb/*.sql parses with QuestDB's own SQL parser
//! (@questdb/sql-parser from npm, installed under target/tools/node by the test script).

use std::path::Path;
use std::process::Command;

#[test]
fn every_shipped_sql_statement_parses_as_questdb_sql() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = root.join("target/tools/node/node_modules");
    assert!(
        modules.join("@questdb/sql-parser").exists(),
        "@questdb/sql-parser is not installed under {} (run ./deploy/scripts/test.sh once: it installs it)",
        modules.display()
    );
    let mut files: Vec<_> = std::fs::read_dir(root.join("deploy/questdb"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "schema.sql and queries.sql");
    let out = Command::new("node")
        .arg(root.join("deploy/questdb/check-sql.cjs"))
        .args(&files)
        .env("NODE_PATH", &modules)
        .output()
        .expect("node runs");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{said}");
    // 15 tables and at least 12 analysis queries.
    let checked: usize = said.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(checked >= 27, "{said}");
}

#[test]
fn the_checker_catches_a_broken_statement() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.sql");
    std::fs::write(&bad, "SELECT 1;\nSELECT * FROM t SAMPLE BY;\n").unwrap();
    let out = Command::new("node")
        .arg(root.join("deploy/questdb/check-sql.cjs"))
        .arg(&bad)
        .env("NODE_PATH", root.join("target/tools/node/node_modules"))
        .output()
        .expect("node runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.sql:2:26: Unexpected token: ';'"));
}
