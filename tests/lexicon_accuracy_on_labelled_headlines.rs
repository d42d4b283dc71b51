//! The lexicon's accuracy and macro-F1 on labelled headlines: the hand-labelled set in
//! `tests/sentiment/headlines.txt` (its held-out half, and its development half apart) and the
//! simulator's headlines, whose direction is known from the jump they lead.
//!
//! `cargo test --test lexicon_accuracy_on_labelled_headlines -- --nocapture` prints the table.

use tradeflow::connectors::simulator::{SimulatorConfig, news_schedule};
use tradeflow_operators::sentiment::Lexicon;

/// |score| below this reads as neutral.
const NEUTRAL_BAND: f64 = 0.1;
const LABELS: [&str; 3] = ["positive", "negative", "neutral"];

fn predict(lexicon: &Lexicon, headline: &str, ticker: &str) -> &'static str {
    let s = lexicon.score_for(headline, ticker).score;
    if s >= NEUTRAL_BAND {
        "positive"
    } else if s <= -NEUTRAL_BAND {
        "negative"
    } else {
        "neutral"
    }
}

/// Accuracy and the unweighted mean of the per-label F1 scores.
fn evaluate(pairs: &[(&str, &str)]) -> (f64, f64) {
    let correct = pairs.iter().filter(|(truth, guess)| truth == guess).count();
    let f1 = LABELS
        .iter()
        .map(|label| {
            let tp = pairs.iter().filter(|(t, g)| t == label && g == label).count() as f64;
            let predicted = pairs.iter().filter(|(_, g)| g == label).count() as f64;
            let actual = pairs.iter().filter(|(t, _)| t == label).count() as f64;
            let (p, r) = (tp / predicted.max(1.0), tp / actual.max(1.0));
            if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
        })
        .sum::<f64>()
        / LABELS.len() as f64;
    (correct as f64 / pairs.len() as f64, f1)
}

fn labelled() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sentiment/headlines.txt")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.splitn(3, '|');
            let (label, ticker, headline) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
            assert!(LABELS.contains(&label), "{l}");
            (label.to_owned(), ticker.to_owned(), headline.to_owned())
        })
        .collect()
}

#[test]
fn lexicon_accuracy_and_macro_f1() {
    let lexicon = Lexicon::default();
    let rows = labelled();
    assert!(rows.len() >= 200, "at least 200 hand-labelled headlines, got {}", rows.len());
    let guesses: Vec<(&str, &str)> =
        rows.iter().map(|(label, ticker, headline)| (label.as_str(), predict(&lexicon, headline, ticker))).collect();
    let development: Vec<_> = guesses.iter().step_by(2).copied().collect();
    let held_out: Vec<_> = guesses.iter().skip(1).step_by(2).copied().collect();

    let names: Vec<String> = ["AAA", "BBB", "CCC", "DDD"].map(String::from).to_vec();
    let config = SimulatorConfig { news_per_hour: 40.0, ..SimulatorConfig::default() };
    let simulated: Vec<(String, String, String)> = news_schedule(&config, &names)
        .into_iter()
        .filter(|e| e.news.source == "simwire")
        .map(|e| {
            let label = if e.jump > 0.0 {
                "positive"
            } else if e.jump < 0.0 {
                "negative"
            } else {
                "neutral"
            };
            (label.to_owned(), names[e.symbol.0 as usize].clone(), e.news.headline)
        })
        .collect();
    let sim_guesses: Vec<(&str, &str)> = simulated
        .iter()
        .map(|(label, ticker, headline)| (label.as_str(), predict(&lexicon, headline, ticker)))
        .collect();

    println!("set                     n  accuracy  macro-F1");
    let mut results = Vec::new();
    for (name, pairs) in
        [("hand, held-out", &held_out), ("hand, development", &development), ("simulator", &sim_guesses)]
    {
        let (accuracy, f1) = evaluate(pairs);
        println!("{name:<20} {:>4}  {accuracy:>8.3}  {f1:>8.3}", pairs.len());
        results.push((accuracy, f1));
    }
    for (i, ((label, guess), (_, _, headline))) in guesses.iter().zip(&rows).enumerate() {
        if label != guess {
            let half = if i % 2 == 0 { "development" } else { "held-out" };
            println!("  {half} miss: {label} read as {guess}: {headline}");
        }
    }
    // Floors a regression would break (the figures themselves are in the README and the note).
    assert!(results[0].0 >= 0.85 && results[0].1 >= 0.85, "held-out {:?}", results[0]);
    assert!(results[2].0 >= 0.99, "the simulator's templates are all read right: {:?}", results[2]);
}
