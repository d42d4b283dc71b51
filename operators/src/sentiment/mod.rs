//! News sentiment: the models, and the extension method that scores a news stream.

pub mod lexicon;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use timely::dataflow::StreamVec;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;

pub use lexicon::Lexicon;

use crate::event::{News, Sentiment, Ts, route_str};
use crate::stash::EpochStash;
use crate::symbols::SymbolTable;

/// Extension trait for scoring news.
pub trait ScoreNews<'scope> {
    /// Drops repeats of an article id seen within `dedupe_window` ns of event time, then emits
    /// one [`Sentiment`] per (article, named symbol) at the article's epoch, scored on the
    /// sentences that name the symbol.
    ///
    /// # Examples
    /// ```
    /// use std::sync::Arc;
    /// use timely::dataflow::operators::Capture;
    /// use tradeflow_operators::testing::records;
    /// use timely::dataflow::operators::vec::ToStream;
    /// use tradeflow_operators::sentiment::{Lexicon, ScoreNews};
    /// use tradeflow_operators::{News, Symbol, SymbolTable};
    ///
    /// let symbols = Arc::new(SymbolTable::new(["ACME"]));
    /// let news = News { id: "n1".into(), ts: 5, source: "wire".into(), headline: "ACME beats estimates".into(), body: String::new(), symbols: vec![Symbol(0)] };
    /// let captured = timely::example(move |scope| {
    ///     vec![news.clone(), news].to_stream(scope).sentiment(Arc::new(Lexicon::default()), symbols, 1_000).capture()
    /// });
    /// let scored: Vec<_> = records(captured);
    /// assert_eq!(scored.len(), 1, "the repeat is dropped");
    /// assert!(scored[0].score > 0.0);
    /// ```
    fn sentiment(
        self,
        lexicon: Arc<Lexicon>,
        symbols: Arc<SymbolTable>,
        dedupe_window: Ts,
    ) -> StreamVec<'scope, u64, Sentiment>;
}

impl<'scope> ScoreNews<'scope> for StreamVec<'scope, u64, News> {
    fn sentiment(
        self,
        lexicon: Arc<Lexicon>,
        symbols: Arc<SymbolTable>,
        dedupe_window: Ts,
    ) -> StreamVec<'scope, u64, Sentiment> {
        self.unary_frontier(Exchange::new(|n: &News| route_str(&n.id)), "Sentiment", move |_initial, _info| {
            let mut stash = EpochStash::<News>::default();
            let mut seen: HashSet<String> = HashSet::new();
            let mut seen_order: VecDeque<(Ts, String)> = VecDeque::new();
            let mut text = String::new();
            move |(input, frontier), output| {
                input.for_each_stamp(|cap, data| stash.push(&cap, 0, data));
                while let Some(epoch) = stash.first_epoch().filter(|e| !frontier.less_equal(e)) {
                    let Some((cap, mut batch)) = stash.take(epoch) else {
                        break;
                    };
                    batch.sort_by(|a, b| (a.ts, &a.id).cmp(&(b.ts, &b.id)));
                    let mut session = output.session(&cap);
                    for news in batch {
                        while seen_order.front().is_some_and(|(ts, _)| *ts < news.ts - dedupe_window) {
                            if let Some((_, id)) = seen_order.pop_front() {
                                seen.remove(&id);
                            }
                        }
                        if !seen.insert(news.id.clone()) {
                            continue;
                        }
                        seen_order.push_back((news.ts, news.id.clone()));
                        text.clear();
                        text.push_str(&news.headline);
                        text.push_str(". ");
                        text.push_str(&news.body);
                        for &symbol in &news.symbols {
                            let started = Instant::now();
                            let scored = lexicon.score_for(&text, symbols.name(symbol));
                            session.give(Sentiment {
                                news_id: news.id.clone(),
                                symbol,
                                ts: news.ts,
                                score: scored.score,
                                confidence: scored.confidence,
                                model: Lexicon::MODEL.to_owned(),
                                latency_ns: started.elapsed().as_nanos() as i64,
                                cost_usd: 0.0,
                            });
                        }
                    }
                }
            }
        })
    }
}
