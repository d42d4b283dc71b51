//! A finance-aware lexicon scorer: word scores, negation, intensifiers, ticker-scoped sentences.
//!
//! The word list is tradeflow's own, curated for market headlines (see `README.md`, "Sentiment
//! lexicon"); no third-party dictionary is bundled.

use std::collections::HashMap;
use std::sync::Arc;

use super::model::{Article, ArticleScore, ModelError, SentimentModel};
use crate::call::BoxFuture;

/// Word scores from -1 to 1. Multi-word phrases are matched as hyphen-free word pairs.
const WORDS: &[(&str, f64)] = &[
    // Positive
    ("beat", 0.6),
    ("beats", 0.6),
    ("surge", 0.7),
    ("surges", 0.7),
    ("surged", 0.7),
    ("soar", 0.8),
    ("soars", 0.8),
    ("soared", 0.8),
    ("jump", 0.5),
    ("jumps", 0.5),
    ("jumped", 0.5),
    ("rally", 0.6),
    ("rallies", 0.6),
    ("gain", 0.4),
    ("gains", 0.4),
    ("rise", 0.4),
    ("rises", 0.4),
    ("rose", 0.4),
    ("record", 0.4),
    ("strong", 0.5),
    ("stronger", 0.5),
    ("growth", 0.4),
    ("profit", 0.4),
    ("profits", 0.4),
    ("upgrade", 0.7),
    ("upgrades", 0.7),
    ("upgraded", 0.7),
    ("outperform", 0.6),
    ("raises", 0.5),
    ("raised", 0.4),
    ("boost", 0.5),
    ("boosts", 0.5),
    ("approval", 0.6),
    ("approved", 0.6),
    ("wins", 0.5),
    ("win", 0.4),
    ("won", 0.4),
    ("breakthrough", 0.7),
    ("exceeds", 0.6),
    ("exceeded", 0.6),
    ("optimistic", 0.5),
    ("bullish", 0.7),
    ("buyback", 0.5),
    // A regular dividend is routine news: weak alone, it tips a sentence already leaning.
    ("dividend", 0.1),
    ("expands", 0.4),
    ("partnership", 0.4),
    ("acquire", 0.2),
    ("upbeat", 0.5),
    ("rebound", 0.4),
    ("rebounds", 0.4),
    ("tops", 0.5),
    ("robust", 0.5),
    ("positive", 0.4),
    ("higher", 0.3),
    ("recovery", 0.4),
    // Curated from the development half of tests/sentiment/headlines.txt (general terms only).
    ("climb", 0.4),
    ("climbs", 0.4),
    ("climbed", 0.4),
    ("strongest", 0.6),
    ("improve", 0.4),
    ("improves", 0.4),
    ("improved", 0.4),
    ("advance", 0.3),
    ("advances", 0.3),
    ("accelerates", 0.4),
    ("accelerating", 0.4),
    ("lift", 0.4),
    ("lifts", 0.4),
    ("hike", 0.4),
    ("hikes", 0.4),
    ("better", 0.4),
    ("strengthen", 0.4),
    ("strengthens", 0.4),
    ("outperforms", 0.6),
    ("profitable", 0.5),
    ("increase", 0.3),
    ("increases", 0.3),
    ("increased", 0.3),
    ("lands", 0.3),
    ("deal", 0.2),
    ("high", 0.2),
    // Negative
    ("miss", -0.6),
    ("misses", -0.6),
    ("missed", -0.6),
    ("plunge", -0.8),
    ("plunges", -0.8),
    ("plunged", -0.8),
    ("tumble", -0.7),
    ("tumbles", -0.7),
    ("tumbled", -0.7),
    ("fall", -0.4),
    ("falls", -0.4),
    ("fell", -0.4),
    ("drop", -0.4),
    ("drops", -0.4),
    ("dropped", -0.4),
    ("slump", -0.6),
    ("slumps", -0.6),
    ("loss", -0.5),
    ("losses", -0.5),
    ("weak", -0.5),
    ("weaker", -0.5),
    ("downgrade", -0.7),
    ("downgrades", -0.7),
    ("downgraded", -0.7),
    ("underperform", -0.6),
    ("cuts", -0.4),
    ("cut", -0.4),
    ("lawsuit", -0.5),
    ("probe", -0.5),
    ("investigation", -0.5),
    ("fraud", -0.9),
    ("recall", -0.5),
    ("recalls", -0.5),
    ("bankruptcy", -0.9),
    ("default", -0.7),
    ("warns", -0.6),
    ("warning", -0.5),
    ("layoffs", -0.5),
    ("fine", -0.3),
    ("fined", -0.5),
    ("halt", -0.4),
    ("halts", -0.4),
    ("delay", -0.4),
    ("delays", -0.4),
    ("bearish", -0.7),
    ("pessimistic", -0.5),
    ("disappointing", -0.6),
    ("disappoints", -0.6),
    ("slowdown", -0.5),
    ("decline", -0.4),
    ("declines", -0.4),
    ("lower", -0.3),
    ("resigns", -0.4),
    ("breach", -0.6),
    ("sink", -0.6),
    ("sinks", -0.6),
    ("sank", -0.6),
    ("negative", -0.4),
    ("crash", -0.9),
    ("crashes", -0.9),
    ("selloff", -0.6),
    ("shortfall", -0.5),
    // Curated from the development half of tests/sentiment/headlines.txt (general terms only).
    ("fails", -0.6),
    ("failed", -0.6),
    ("worst", -0.6),
    ("slide", -0.4),
    ("slides", -0.4),
    ("slid", -0.4),
    ("stall", -0.6),
    ("stalls", -0.6),
    ("stalled", -0.6),
    ("halted", -0.4),
    ("suspends", -0.5),
    ("suspended", -0.5),
    ("lose", -0.5),
    ("loses", -0.5),
    ("lost", -0.5),
    ("withdraws", -0.4),
    ("withdrawn", -0.4),
    ("crunch", -0.5),
    ("concerns", -0.3),
    ("shrink", -0.4),
    ("shrinks", -0.4),
    ("writedown", -0.5),
    ("weaken", -0.5),
    ("weakens", -0.5),
    ("fades", -0.3),
    ("bleak", -0.6),
    ("grim", -0.6),
    ("sued", -0.5),
    ("accused", -0.5),
    ("misleading", -0.4),
    ("defaults", -0.5),
    ("slashed", -0.5),
    ("slashes", -0.5),
    ("rejected", -0.5),
    ("retreat", -0.4),
    ("retreats", -0.4),
    ("deteriorates", -0.5),
    ("collapse", -0.8),
    ("collapses", -0.8),
    ("block", -0.4),
    ("blocks", -0.4),
    ("low", -0.2),
];

const NEGATIONS: &[&str] = &["not", "no", "never", "without", "isn't", "wasn't", "didn't", "doesn't", "won't"];

/// Words that negate when followed by "to" ("fails to beat") and score as words otherwise
/// ("launch fails").
const NEGATING_BEFORE_TO: &[&str] = &["fails", "failed"];

const INTENSIFIERS: &[(&str, f64)] = &[
    ("sharply", 1.5),
    ("significantly", 1.4),
    ("sharp", 1.4),
    ("massive", 1.5),
    ("huge", 1.4),
    ("strongly", 1.3),
    ("slightly", 0.5),
    ("modestly", 0.6),
    ("marginally", 0.5),
];

/// The lexicon model: deterministic, allocation-light, fast.
#[derive(Clone, Debug)]
pub struct Lexicon {
    words: HashMap<&'static str, f64>,
    intensifiers: HashMap<&'static str, f64>,
}

impl Default for Lexicon {
    fn default() -> Self {
        Lexicon { words: WORDS.iter().copied().collect(), intensifiers: INTENSIFIERS.iter().copied().collect() }
    }
}

/// A score and how much evidence stood behind it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    /// From -1 to 1.
    pub score: f64,
    /// From 0 to 1: grows with the number of scored words.
    pub confidence: f64,
}

impl Lexicon {
    pub const MODEL: &'static str = "lexicon-v1";

    /// Scores `text` as a whole.
    pub fn score(&self, text: &str) -> Scored {
        let (sum, hits) = self.raw(text);
        Self::normalize(sum, hits)
    }

    /// Scores the sentences of `text` that mention `ticker`; the whole text if none does.
    pub fn score_for(&self, text: &str, ticker: &str) -> Scored {
        let mut sum = 0.0;
        let mut hits = 0;
        let mut any = false;
        for sentence in text.split(['.', ';', '!', '?', '\n']) {
            if mentions(sentence, ticker) {
                any = true;
                let (s, h) = self.raw(sentence);
                sum += s;
                hits += h;
            }
        }
        if !any {
            (sum, hits) = self.raw(text);
        }
        Self::normalize(sum, hits)
    }

    fn raw(&self, text: &str) -> (f64, usize) {
        let mut sum = 0.0;
        let mut hits = 0;
        // Negation flips the next three words; an intensifier scales the next one.
        let mut negate_for = 0u8;
        let mut boost = 1.0;
        let mut lower = String::new();
        let mut tokens = text.split(|c: char| !(c.is_alphanumeric() || c == '\'')).filter(|t| !t.is_empty()).peekable();
        while let Some(token) = tokens.next() {
            lower.clear();
            lower.extend(token.chars().flat_map(char::to_lowercase));
            let word = lower.as_str();
            let before_to = tokens.peek().is_some_and(|next| next.eq_ignore_ascii_case("to"));
            if NEGATIONS.contains(&word) || word.ends_with("n't") || (before_to && NEGATING_BEFORE_TO.contains(&word)) {
                negate_for = 3;
                continue;
            }
            if let Some(f) = self.intensifiers.get(word) {
                boost = *f;
                continue;
            }
            if let Some(score) = self.words.get(word) {
                let sign = if negate_for > 0 { -0.75 } else { 1.0 };
                sum += score * boost * sign;
                hits += 1;
            }
            boost = 1.0;
            negate_for = negate_for.saturating_sub(1);
        }
        (sum, hits)
    }

    fn normalize(sum: f64, hits: usize) -> Scored {
        // VADER-style squashing keeps a pile of weak words below one strong one.
        let score = sum / (sum * sum + 1.0).sqrt();
        let confidence = if hits == 0 { 0.0 } else { 1.0 - 0.5f64.powi(hits as i32) };
        Scored { score, confidence }
    }
}

impl Lexicon {
    /// Scores one article (headline, then body) for each of its tickers.
    pub fn score_article(&self, article: &Article) -> ArticleScore {
        let mut text = String::with_capacity(article.headline.len() + article.body.len() + 2);
        text.push_str(&article.headline);
        text.push_str(". ");
        text.push_str(&article.body);
        ArticleScore {
            model: Self::MODEL.to_owned(),
            per_ticker: article.tickers.iter().map(|t| self.score_for(&text, t)).collect(),
            cost_usd: 0.0,
        }
    }
}

impl SentimentModel for Lexicon {
    fn name(&self) -> &str {
        Self::MODEL
    }

    fn max_batch(&self) -> usize {
        usize::MAX
    }

    fn score_now(&self, articles: &[Article]) -> Option<Vec<ArticleScore>> {
        Some(articles.iter().map(|a| self.score_article(a)).collect())
    }

    fn score(&self, articles: Arc<[Article]>) -> BoxFuture<Result<Vec<ArticleScore>, ModelError>> {
        let scores = articles.iter().map(|a| self.score_article(a)).collect();
        Box::pin(async move { Ok(scores) })
    }
}

fn mentions(sentence: &str, ticker: &str) -> bool {
    sentence.split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '-')).any(|w| w == ticker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direction_negation_and_intensity() {
        let lex = Lexicon::default();
        assert!(lex.score("ACME beats estimates and raises guidance").score > 0.5);
        assert!(lex.score("ACME shares plunge after fraud probe").score < -0.5);
        assert!(lex.score("ACME did not beat estimates").score < 0.0);
        let plain = lex.score("ACME shares fall").score;
        let sharp = lex.score("ACME shares fall sharply").score;
        assert!(plain < 0.0 && plain == sharp, "the intensifier precedes the word it scales");
        assert!(lex.score("ACME shares sharply fall").score < plain);
        assert_eq!(lex.score("ACME holds annual meeting").confidence, 0.0);
    }

    #[test]
    fn scores_only_sentences_about_the_ticker() {
        let lex = Lexicon::default();
        let text = "ACME beats estimates. BETA plunges on fraud probe.";
        assert!(lex.score_for(text, "ACME").score > 0.0);
        assert!(lex.score_for(text, "BETA").score < 0.0);
    }
}
