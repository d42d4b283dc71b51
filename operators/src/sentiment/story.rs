//! Recognizing repeats: the same article id, the same story from another source, the same
//! content already scored by the same model.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};

use super::model::ArticleScore;
use crate::event::{News, Symbol, Ts};

/// A hash of the headline's words (lower-cased, punctuation and spacing ignored) and the
/// symbols it names: two wires carrying one story agree on it.
pub fn story_key(headline: &str, symbols: &[Symbol]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for word in headline.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
        for c in word.chars().flat_map(char::to_lowercase) {
            c.hash(&mut hasher);
        }
        ' '.hash(&mut hasher);
    }
    let mut sorted = symbols.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    sorted.hash(&mut hasher);
    hasher.finish()
}

/// The cache key of one article's content under one model.
pub fn content_key(model: &str, news: &News) -> u64 {
    let mut hasher = DefaultHasher::new();
    (model, &news.headline, &news.body, &news.symbols).hash(&mut hasher);
    hasher.finish()
}

/// Admits an article unless its id, or its story, was admitted within the window before it.
/// Articles must be offered in event-time order.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct StoryFilter {
    id_window: Ts,
    story_window: Ts,
    ids: HashMap<String, Ts>,
    stories: HashMap<u64, Ts>,
    /// What was admitted, oldest first, for expiry.
    admitted: VecDeque<(Ts, String, u64)>,
}

impl StoryFilter {
    pub fn new(id_window: Ts, story_window: Ts) -> Self {
        StoryFilter { id_window, story_window, ids: HashMap::new(), stories: HashMap::new(), admitted: VecDeque::new() }
    }

    pub fn admit(&mut self, news: &News) -> bool {
        let horizon = news.ts.saturating_sub(self.id_window.max(self.story_window));
        while self.admitted.front().is_some_and(|(ts, _, _)| *ts < horizon) {
            if let Some((ts, id, story)) = self.admitted.pop_front() {
                // Only forget an entry that a later admission has not renewed.
                if self.ids.get(&id) == Some(&ts) {
                    self.ids.remove(&id);
                }
                if self.stories.get(&story) == Some(&ts) {
                    self.stories.remove(&story);
                }
            }
        }
        let within = |seen: Option<&Ts>, window: Ts| seen.is_some_and(|&t| news.ts.saturating_sub(t) <= window);
        if within(self.ids.get(&news.id), self.id_window) {
            return false;
        }
        let story = story_key(&news.headline, &news.symbols);
        if within(self.stories.get(&story), self.story_window) {
            return false;
        }
        self.ids.insert(news.id.clone(), news.ts);
        self.stories.insert(story, news.ts);
        self.admitted.push_back((news.ts, news.id.clone(), story));
        true
    }
}

/// Answers already given, keyed by [`content_key`]; the oldest entry goes when it is full.
pub struct ScoreCache {
    capacity: usize,
    scores: HashMap<u64, ArticleScore>,
    order: VecDeque<u64>,
}

impl ScoreCache {
    pub fn new(capacity: usize) -> Self {
        ScoreCache { capacity, scores: HashMap::new(), order: VecDeque::new() }
    }

    pub fn get(&self, key: u64) -> Option<&ArticleScore> {
        self.scores.get(&key)
    }

    pub fn put(&mut self, key: u64, score: ArticleScore) {
        if self.capacity == 0 {
            return;
        }
        if self.scores.insert(key, score).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.scores.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentiment::lexicon::Scored;

    fn news(id: &str, ts: Ts, headline: &str) -> News {
        News {
            id: id.into(),
            ts,
            source: "w".into(),
            headline: headline.into(),
            body: String::new(),
            symbols: vec![Symbol(1)],
        }
    }

    #[test]
    fn same_story_from_another_wire_is_dropped_within_its_window() {
        let mut filter = StoryFilter::new(100, 10);
        assert!(filter.admit(&news("a", 0, "ACME beats estimates")));
        assert!(!filter.admit(&news("b", 5, "acme BEATS estimates!")), "same words, other punctuation and case");
        assert!(filter.admit(&news("c", 11, "ACME beats estimates")), "past the story window");
        assert!(!filter.admit(&news("a", 50, "something else")), "the id repeats within its window");
        assert!(filter.admit(&news("a", 101, "something else")), "the id's window has passed");
    }

    #[test]
    fn story_key_depends_on_symbols_not_their_order() {
        let one = story_key("X up", &[Symbol(1), Symbol(2)]);
        assert_eq!(one, story_key("x  up.", &[Symbol(2), Symbol(1)]));
        assert_ne!(one, story_key("X up", &[Symbol(1)]));
    }

    #[test]
    fn cache_forgets_the_oldest_when_full() {
        let score = |m: &str| ArticleScore {
            model: m.into(),
            per_ticker: vec![Scored { score: 0.1, confidence: 1.0 }],
            cost_usd: 0.0,
        };
        let mut cache = ScoreCache::new(2);
        cache.put(1, score("a"));
        cache.put(2, score("b"));
        cache.put(3, score("c"));
        assert_eq!(cache.len(), 2);
        assert!(cache.get(1).is_none());
        assert_eq!(cache.get(3).map(|s| s.model.as_str()), Some("c"));
    }
}
