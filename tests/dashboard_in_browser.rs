//! The live dashboard in a real browser: headless Chromium driven over WebDriver
//! (chromedriver, both from Debian, installed by the test script). The page loads, shows a
//! submitted job, and its numbers move; a wrong token shows no data.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::server::{Server, TOKEN, long_job};
use fantoccini::{ClientBuilder, Locator};

fn number(text: &str) -> u64 {
    text.replace(',', "").trim().parse().unwrap_or(0)
}

/// The text of the first element matching `css`, read in one script (the page redraws its
/// tables twice a second, so a found element may be replaced before it is read).
async fn text_of(browser: &fantoccini::Client, css: &str) -> Result<String, fantoccini::error::CmdError> {
    let value = browser
        .execute("const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", vec![css.into()])
        .await?;
    Ok(value.as_str().unwrap_or_default().to_owned())
}

#[test]
fn the_dashboard_shows_a_job_and_its_numbers_move() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let config = dir.path().join("live.toml");
    std::fs::write(&config, long_job("live", "live")).unwrap();
    server.client(&["submit", config.to_str().unwrap()]);

    let driver_bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let (mut driver, ports) = common::ports::spawn_listening(
        "chromedriver (./deploy/scripts/test.sh installs chromium-driver)",
        1,
        Duration::from_secs(20),
        |ports| {
            let mut command = Command::new(&driver_bin);
            command.arg(format!("--port={}", ports[0])).stdout(Stdio::null()).stderr(Stdio::null());
            command
        },
    );
    let port = ports[0];
    let profile = dir.path().join("chromium-profile");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let result = runtime.block_on(async {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", format!("--user-data-dir={}", profile.display())]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let browser = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a WebDriver session");
        let outcome = async {
            browser.set_window_size(1280, 900).await?;
            browser.goto(&format!("{}/#token={TOKEN}", server.url)).await?;
            browser.wait().for_element(Locator::Css("#jobs tr[data-job='job-1'] td.ticks")).await?;
            let first = number(&text_of(&browser, "#jobs tr[data-job='job-1'] td.ticks").await?);
            let state = text_of(&browser, "#jobs tr[data-job='job-1'] td.state").await?;
            assert_eq!(state, "running");
            // The numbers move: ticks rise, the P&L curve gets drawn.
            let deadline = Instant::now() + Duration::from_secs(30);
            let moved = loop {
                let now = number(&text_of(&browser, "#jobs tr[data-job='job-1'] td.ticks").await?);
                if now > first {
                    break now;
                }
                assert!(Instant::now() < deadline, "the ticks stayed at {first}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            assert!(moved > first);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let points = browser
                    .execute("return document.querySelector('#curve polyline').getAttribute('points') || '';", vec![])
                    .await?;
                if points.as_str().is_some_and(|p| p.split(' ').count() > 2) {
                    break;
                }
                assert!(Instant::now() < deadline, "no P&L curve drawn");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            // What it looks like, for a person: target/dashboard.png.
            let png = browser.screenshot().await?;
            let _ = std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/target/dashboard.png"), png);
            // A wrong token: no jobs, and the page says so.
            browser.goto(&format!("{}/?again#token=wrong-token-123456789", server.url)).await?;
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                let status = text_of(&browser, "#status").await?;
                if status.contains("disconnected") {
                    break;
                }
                assert!(Instant::now() < deadline, "the page did not say it is disconnected: {status}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let rows = text_of(&browser, "#jobs tbody").await?;
            assert!(rows.is_empty(), "a wrong token showed jobs: {rows}");
            Ok::<(), fantoccini::error::CmdError>(())
        }
        .await;
        let _ = browser.close().await;
        outcome
    });
    let _ = driver.kill();
    let _ = driver.wait();
    server.client(&["stop", "job-1"]);
    result.expect("the browser session");
}
