//! A bad job config or a bad input file is refused before anything runs, with the file, the
//! key and the reason; nothing is written.

mod common;

use common::{tradeflow, write_config};

const GOOD: &str = r#"
[job]
name = "cfg"

[source]
kind = "files"
ticks = "TICKS"
symbols = ["AAA"]
"#;

fn stderr_of(args: &[&str], code: i32) -> String {
    let out = tradeflow(args);
    assert_eq!(out.status.code(), Some(code), "tradeflow {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn shipped_configs_validate() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/configs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let out = tradeflow(&["validate", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn config_errors_name_the_file_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let ticks = dir.path().join("ticks.csv");
    std::fs::write(&ticks, "ts,symbol,price,size\n1,AAA,1,1\n").unwrap();
    let good = GOOD.replace("TICKS", ticks.to_str().unwrap());
    let path = write_config(dir.path(), "good.toml", &good);
    let out = tradeflow(&["validate", path.to_str().unwrap()]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"));

    let cases = [
        (good.replace("name = \"cfg\"", "name = \"cfg\"\nworkerz = 2"), "unknown field `workerz`"),
        (good.replace("name = \"cfg\"", "name = \"cfg\"\nepoch_ms = 3"), "job.epoch_ms = 3 must divide 1000"),
        (good.replace("kind = \"files\"", "kind = \"ftp\""), "unknown variant `ftp`"),
        (format!("{good}\n[indicators]\nset = [\"ema_0\"]\n"), "indicators.set: indicator `ema_0`"),
        (format!("{good}\n[broker]\nfee_bps = -1\n"), "broker.fee_bps must be between 0 and 10000"),
        (format!("{good}\n[sentiment]\nmodel = \"gpt\"\n"), "sentiment.backend: no backend is named \"gpt\""),
        (
            format!(
                "{good}\n[sentiment]\nbackend = \"m\"\n[[sentiment.backends]]\nname = \"m\"\nbase_url = \"127.0.0.1:8080\"\nmodel = \"x\"\n"
            ),
            "sentiment.backends[0] (m).base_url must start with http:// or https://",
        ),
        (
            format!(
                "{good}\n[[sentiment.backends]]\nname = \"m\"\nbase_url = \"http://h\"\nmodel = \"x\"\nprompt = \"rate these\"\n"
            ),
            "sentiment.backends[0] (m).prompt must contain {articles} and {keys}",
        ),
        (
            format!(
                "{good}\n[[sentiment.backends]]\nname = \"m\"\nbase_url = \"http://h\"\nmodel = \"x\"\napi_key_env = \"TRADEFLOW_UNSET_KEY\"\n"
            ),
            "api_key_env names TRADEFLOW_UNSET_KEY, which is not set",
        ),
        (
            format!(
                "{good}\n[[sentiment.backends]]\nname = \"m\"\nbase_url = \"http://h\"\nmodel = \"x\"\n[sentiment.strategist]\nbackend = \"m\"\ndaily_budget_usd = -1\n"
            ),
            "sentiment.strategist.daily_budget_usd must be 0 or more",
        ),
        (good.replace("[job]", "[job\n"), "TOML parse error"),
    ];
    for (text, want) in cases {
        let path = write_config(dir.path(), "bad.toml", &text);
        let err = stderr_of(&["validate", path.to_str().unwrap()], 2);
        assert!(err.contains("bad.toml") && err.contains(want), "expected `{want}` in:\n{err}");
        let out = dir.path().join("never");
        let err = stderr_of(&["run", path.to_str().unwrap(), "-o", out.to_str().unwrap()], 2);
        assert!(err.contains(want), "{err}");
        assert!(!out.exists(), "nothing is written for a refused config");
    }
}

#[test]
fn unreadable_inputs_and_foreign_output_folders_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let missing = write_config(dir.path(), "missing.toml", &GOOD.replace("TICKS", "/nonexistent/ticks.csv"));
    let err = stderr_of(&["run", missing.to_str().unwrap(), "-o", out.to_str().unwrap()], 1);
    assert!(err.contains("/nonexistent/ticks.csv: cannot open the ticks file"), "{err}");
    assert!(!out.exists());

    let ticks = dir.path().join("ticks.csv");
    std::fs::write(&ticks, "time,symbol,price,size\n").unwrap();
    let no_ts = write_config(dir.path(), "nots.toml", &GOOD.replace("TICKS", ticks.to_str().unwrap()));
    let err = stderr_of(&["run", no_ts.to_str().unwrap(), "-o", out.to_str().unwrap()], 1);
    assert!(err.contains("the header has no `ts` column"), "{err}");

    std::fs::write(&ticks, "ts,symbol,price,size\n1,AAA,1,1\n").unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("precious.txt"), "keep me").unwrap();
    let err = stderr_of(&["run", no_ts.to_str().unwrap(), "-o", out.to_str().unwrap()], 1);
    assert!(err.contains("refusing to overwrite"), "{err}");
    assert_eq!(std::fs::read_to_string(out.join("precious.txt")).unwrap(), "keep me");
}

#[test]
fn the_readme_config_reference_is_a_valid_config() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("```toml\n").expect("README has a TOML config reference") + "```toml\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "readme.toml", &readme[start..end]);
    let out = tradeflow(&["validate", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "the README's config reference does not validate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
