//! The file source: ticks, news and control commands from CSV or JSON Lines, for replaying
//! real data. The format follows the extension (`.csv`, else JSON Lines). Every row that cannot
//! be read becomes a dead letter naming the file, the line and the field.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use tradeflow_operators::source::{EventReader, ReadStatus};
use tradeflow_operators::{Command, Control, DeadLetter, News, Symbol, SymbolTable, Tick, Ts, truncate_utf8};

use crate::config::TimeText;
use crate::connectors::kafka::check_version;
use crate::timefmt::parse_ts;

/// The columns of a tick CSV, in any order; `bid` and `ask` may be absent or empty.
pub const TICK_COLUMNS: [&str; 6] = ["ts", "symbol", "price", "size", "bid", "ask"];

/// How one kind of record is decoded from a row.
pub trait RowFormat: Sized + 'static {
    const KIND: &'static str;
    /// Required CSV columns.
    const REQUIRED: &'static [&'static str];
    /// Optional CSV columns.
    const OPTIONAL: &'static [&'static str];
    fn from_csv(row: &[Option<&str>], symbols: &SymbolTable) -> Result<Self, String>;
    fn from_json(line: &str, symbols: &SymbolTable) -> Result<Self, String>;
}

fn number(column: &str, text: &str) -> Result<f64, String> {
    let v: f64 = text.trim().parse().map_err(|_| format!("column `{column}`: `{text}` is not a number"))?;
    if v.is_finite() { Ok(v) } else { Err(format!("column `{column}`: `{text}` is not a finite number")) }
}

fn symbol(symbols: &SymbolTable, name: &str) -> Result<Symbol, String> {
    symbols.get(name.trim()).ok_or_else(|| format!("unknown symbol `{name}`: not in source.symbols"))
}

fn checked_tick(
    symbol: Symbol,
    ts: Ts,
    price: f64,
    size: f64,
    bid: Option<f64>,
    ask: Option<f64>,
) -> Result<Tick, String> {
    if !(price.is_finite() && price > 0.0) {
        return Err(format!("price must be positive, got {price}"));
    }
    if !(size.is_finite() && size >= 0.0) {
        return Err(format!("size must be zero or more, got {size}"));
    }
    for (name, v) in [("bid", bid), ("ask", ask)] {
        if let Some(v) = v
            && !(v.is_finite() && v > 0.0)
        {
            return Err(format!("{name} must be positive, got {v}"));
        }
    }
    Ok(Tick { symbol, ts, price, size, bid, ask })
}

#[derive(Deserialize)]
struct TickJson {
    #[serde(default)]
    v: Option<u32>,
    ts: TimeText,
    symbol: String,
    price: f64,
    size: f64,
    #[serde(default)]
    bid: Option<f64>,
    #[serde(default)]
    ask: Option<f64>,
}

impl RowFormat for Tick {
    const KIND: &'static str = "ticks";
    const REQUIRED: &'static [&'static str] = &["ts", "symbol", "price", "size"];
    const OPTIONAL: &'static [&'static str] = &["bid", "ask"];

    fn from_csv(row: &[Option<&str>], symbols: &SymbolTable) -> Result<Self, String> {
        let field = |i: usize| row[i].filter(|s| !s.trim().is_empty());
        let required = |i: usize| field(i).ok_or_else(|| format!("missing field `{}`", TICK_COLUMNS[i]));
        let ts = parse_ts(required(0)?).map_err(|e| format!("column `ts`: {e}"))?;
        let s = symbol(symbols, required(1)?)?;
        let price = number("price", required(2)?)?;
        let size = number("size", required(3)?)?;
        let bid = field(4).map(|t| number("bid", t)).transpose()?;
        let ask = field(5).map(|t| number("ask", t)).transpose()?;
        checked_tick(s, ts, price, size, bid, ask)
    }

    fn from_json(line: &str, symbols: &SymbolTable) -> Result<Self, String> {
        let t: TickJson = serde_json::from_str(line).map_err(|e| e.to_string())?;
        check_version(t.v)?;
        let ts = t.ts.resolve().map_err(|e| format!("field `ts`: {e}"))?;
        checked_tick(symbol(symbols, &t.symbol)?, ts, t.price, t.size, t.bid, t.ask)
    }
}

#[derive(Deserialize)]
struct NewsJson {
    #[serde(default)]
    v: Option<u32>,
    id: String,
    ts: TimeText,
    #[serde(default)]
    source: String,
    headline: String,
    #[serde(default)]
    body: String,
    symbols: Vec<String>,
}

fn checked_news(
    id: &str,
    ts: Ts,
    source: &str,
    headline: &str,
    body: &str,
    names: &[&str],
    symbols: &SymbolTable,
) -> Result<News, String> {
    if id.trim().is_empty() {
        return Err("missing field `id`".into());
    }
    let known: Vec<Symbol> = names.iter().filter_map(|n| symbols.get(n.trim())).collect();
    if known.is_empty() {
        return Err(format!("names no symbol of source.symbols (named: {})", names.join(" ")));
    }
    Ok(News { id: id.into(), ts, source: source.into(), headline: headline.into(), body: body.into(), symbols: known })
}

impl RowFormat for News {
    const KIND: &'static str = "news";
    const REQUIRED: &'static [&'static str] = &["id", "ts", "headline", "symbols"];
    const OPTIONAL: &'static [&'static str] = &["source", "body"];

    fn from_csv(row: &[Option<&str>], symbols: &SymbolTable) -> Result<Self, String> {
        // Column order here: REQUIRED then OPTIONAL.
        let get = |i: usize, name: &str| {
            row[i].filter(|s| !s.trim().is_empty()).ok_or_else(|| format!("missing field `{name}`"))
        };
        let ts = parse_ts(get(1, "ts")?).map_err(|e| format!("column `ts`: {e}"))?;
        let names: Vec<&str> = get(3, "symbols")?.split(['|', ';', ' ']).filter(|s| !s.is_empty()).collect();
        checked_news(
            get(0, "id")?,
            ts,
            row[4].unwrap_or(""),
            get(2, "headline")?,
            row[5].unwrap_or(""),
            &names,
            symbols,
        )
    }

    fn from_json(line: &str, symbols: &SymbolTable) -> Result<Self, String> {
        let n: NewsJson = serde_json::from_str(line).map_err(|e| e.to_string())?;
        check_version(n.v)?;
        let ts = n.ts.resolve().map_err(|e| format!("field `ts`: {e}"))?;
        let names: Vec<&str> = n.symbols.iter().map(String::as_str).collect();
        checked_news(&n.id, ts, &n.source, &n.headline, &n.body, &names, symbols)
    }
}

#[derive(Deserialize)]
struct ControlJson {
    #[serde(default)]
    v: Option<u32>,
    ts: TimeText,
    command: Command,
}

impl RowFormat for Control {
    const KIND: &'static str = "control";
    const REQUIRED: &'static [&'static str] = &["ts", "command"];
    const OPTIONAL: &'static [&'static str] = &[];

    fn from_csv(row: &[Option<&str>], _symbols: &SymbolTable) -> Result<Self, String> {
        let ts = parse_ts(row[0].unwrap_or_default()).map_err(|e| format!("column `ts`: {e}"))?;
        let command = match row[1].map(str::trim) {
            Some("halt") => Command::Halt,
            Some("flatten") => Command::Flatten,
            Some("resume") => Command::Resume,
            other => {
                return Err(format!("column `command`: `{}` is not halt, flatten or resume", other.unwrap_or("")));
            }
        };
        Ok(Control { ts, command })
    }

    fn from_json(line: &str, _symbols: &SymbolTable) -> Result<Self, String> {
        let c: ControlJson = serde_json::from_str(line).map_err(|e| e.to_string())?;
        check_version(c.v)?;
        Ok(Control { ts: c.ts.resolve().map_err(|e| format!("field `ts`: {e}"))?, command: c.command })
    }
}

/// No record format has more columns than this.
const MAX_COLUMNS: usize = 8;

/// What a [`FileReader`] reads from: a file, or bytes held in memory.
type Input = Box<dyn Read + Send>;

enum Rows {
    Csv { reader: csv::Reader<Input>, columns: Vec<Option<usize>>, record: csv::StringRecord },
    Json { lines: std::io::Lines<BufReader<Input>> },
}

/// Reads one file on one worker (worker 0); the other workers get an empty reader.
pub struct FileReader<R> {
    path: PathBuf,
    rows: Option<Rows>,
    line: u64,
    symbols: Arc<SymbolTable>,
    _record: std::marker::PhantomData<R>,
}

impl<R: RowFormat> FileReader<R> {
    /// Opens `path` and checks its header; `active` is false on every worker but one.
    pub fn open(path: &Path, symbols: Arc<SymbolTable>, active: bool) -> Result<Self, String> {
        let mut reader =
            FileReader { path: path.to_owned(), rows: None, line: 0, symbols, _record: std::marker::PhantomData };
        if !active {
            return Ok(reader);
        }
        let file =
            File::open(path).map_err(|e| format!("{}: cannot open the {} file: {e}", path.display(), R::KIND))?;
        let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
        reader.start(Box::new(file), is_csv)?;
        Ok(reader)
    }

    /// Reads `input` as if it were the file `path` (CSV when `is_csv`, else JSON lines).
    pub fn from_reader(path: &Path, input: Input, is_csv: bool, symbols: Arc<SymbolTable>) -> Result<Self, String> {
        let mut reader =
            FileReader { path: path.to_owned(), rows: None, line: 0, symbols, _record: std::marker::PhantomData };
        reader.start(input, is_csv)?;
        Ok(reader)
    }

    fn start(&mut self, file: Input, is_csv: bool) -> Result<(), String> {
        let path = &self.path;
        self.rows = Some(if is_csv {
            let mut csv = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::Headers).from_reader(file);
            let headers =
                csv.headers().map_err(|e| format!("{}: cannot read the CSV header: {e}", path.display()))?.clone();
            let find = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
            let mut columns = Vec::new();
            for name in R::REQUIRED {
                let at = find(name).ok_or_else(|| {
                    format!(
                        "{}: the header has no `{name}` column (needs {}; may have {})",
                        path.display(),
                        R::REQUIRED.join(","),
                        R::OPTIONAL.join(",")
                    )
                })?;
                columns.push(Some(at));
            }
            columns.extend(R::OPTIONAL.iter().map(|name| find(name)));
            self.line = 1;
            Rows::Csv { reader: csv, columns, record: csv::StringRecord::new() }
        } else {
            Rows::Json { lines: BufReader::new(file).lines() }
        });
        Ok(())
    }
}

fn letter(origin: String, reason: String, raw: &str) -> DeadLetter {
    let mut raw = raw.to_owned();
    truncate_utf8(&mut raw, 4096);
    DeadLetter { ts: 0, origin, reason, raw }
}

impl<R: RowFormat> EventReader<R> for FileReader<R> {
    fn read(&mut self, max: usize, out: &mut Vec<(u64, Result<R, DeadLetter>)>) -> ReadStatus {
        let Some(rows) = self.rows.as_mut() else {
            return ReadStatus::Exhausted;
        };
        for _ in 0..max {
            self.line += 1;
            let line = self.line;
            match rows {
                Rows::Csv { reader, columns, record } => match reader.read_record(record) {
                    Ok(false) => {
                        self.rows = None;
                        return ReadStatus::Exhausted;
                    }
                    Ok(true) => {
                        let line = record.position().map_or(line, |p| p.line());
                        self.line = line;
                        let mut row = [None; MAX_COLUMNS];
                        for (slot, column) in row.iter_mut().zip(columns.iter()) {
                            *slot = column.and_then(|i| record.get(i));
                        }
                        let parsed = R::from_csv(&row[..columns.len()], &self.symbols).map_err(|reason| {
                            let raw = record.iter().collect::<Vec<_>>().join(",");
                            letter(format!("{}:{line}", self.path.display()), reason, &raw)
                        });
                        out.push((line, parsed));
                    }
                    Err(e) => {
                        let reason = format!("unreadable CSV row: {e}");
                        out.push((line, Err(letter(format!("{}:{line}", self.path.display()), reason, ""))));
                    }
                },
                Rows::Json { lines } => match lines.next() {
                    None => {
                        self.rows = None;
                        return ReadStatus::Exhausted;
                    }
                    Some(Ok(text)) if text.trim().is_empty() => {}
                    Some(Ok(text)) => {
                        let parsed = R::from_json(&text, &self.symbols)
                            .map_err(|reason| letter(format!("{}:{line}", self.path.display()), reason, &text));
                        out.push((line, parsed));
                    }
                    Some(Err(e)) => {
                        let reason = format!("unreadable line: {e}");
                        out.push((line, Err(letter(format!("{}:{line}", self.path.display()), reason, ""))));
                    }
                },
            }
        }
        ReadStatus::More
    }

    fn origin(&self, line: u64) -> String {
        format!("{}:{line}", self.path.display())
    }
}

/// Control commands from the job config, emitted on one worker.
pub struct ConfiguredControl {
    commands: std::vec::IntoIter<Control>,
}

impl ConfiguredControl {
    pub fn new(mut commands: Vec<Control>, active: bool) -> Self {
        if !active {
            commands.clear();
        }
        commands.sort_by_key(|c| c.ts);
        ConfiguredControl { commands: commands.into_iter() }
    }
}

impl EventReader<Control> for ConfiguredControl {
    fn read(&mut self, max: usize, out: &mut Vec<(u64, Result<Control, DeadLetter>)>) -> ReadStatus {
        let start = out.len() as u64;
        out.extend(self.commands.by_ref().take(max).enumerate().map(|(i, c)| (start + i as u64, Ok(c))));
        if self.commands.len() == 0 { ReadStatus::Exhausted } else { ReadStatus::More }
    }

    fn origin(&self, index: u64) -> String {
        format!("config [[control]] #{index}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all<R: RowFormat>(path: &Path, symbols: &Arc<SymbolTable>) -> Vec<(u64, Result<R, DeadLetter>)> {
        let mut reader = FileReader::<R>::open(path, Arc::clone(symbols), true).unwrap();
        let mut out = Vec::new();
        while reader.read(2, &mut out) != ReadStatus::Exhausted {}
        out
    }

    #[test]
    fn csv_rows_become_ticks_or_dead_letters_with_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(
            &path,
            "symbol,ts,price,size,bid,ask\nAAA,1000,10.5,3,,\nAAA,2000,abc,1,,\nZZZ,3000,1,1,,\nAAA,4000,,1,,\nAAA,2024-01-02T14:30:00Z,11,2,10.9,11.1\n",
        )
        .unwrap();
        let symbols = Arc::new(SymbolTable::new(["AAA"]));
        let rows = read_all::<Tick>(&path, &symbols);
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0].1.as_ref().unwrap().price, 10.5);
        let reasons: Vec<String> =
            rows.iter().filter_map(|(_, r)| r.as_ref().err()).map(|d| format!("{} {}", d.origin, d.reason)).collect();
        assert!(reasons[0].ends_with("t.csv:3 column `price`: `abc` is not a number"), "{reasons:?}");
        assert!(reasons[1].contains("unknown symbol `ZZZ`"), "{reasons:?}");
        assert!(reasons[2].contains("missing field `price`"), "{reasons:?}");
        assert_eq!(rows[4].1.as_ref().unwrap().bid, Some(10.9));
    }

    #[test]
    fn a_missing_column_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "ts,symbol,size\n").unwrap();
        let err = FileReader::<Tick>::open(&path, Arc::new(SymbolTable::new(["AAA"])), true).err().unwrap();
        assert!(err.contains("no `price` column"), "{err}");
    }

    #[test]
    fn json_lines_news_and_control() {
        let dir = tempfile::tempdir().unwrap();
        let news = dir.path().join("n.jsonl");
        std::fs::write(
            &news,
            "{\"id\":\"1\",\"ts\":5,\"headline\":\"AAA beats\",\"symbols\":[\"AAA\",\"QQQ\"],\"extra\":1}\n\n{\"id\":\"2\",\"ts\":6}\nnot json\n",
        )
        .unwrap();
        let symbols = Arc::new(SymbolTable::new(["AAA"]));
        let rows = read_all::<News>(&news, &symbols);
        assert_eq!(rows[0].1.as_ref().unwrap().symbols, vec![Symbol(0)]);
        assert!(rows[1].1.as_ref().unwrap_err().reason.contains("missing field `headline`"));
        assert_eq!(rows[1].0, 3, "blank lines still count");
        assert!(rows[2].1.is_err());
        let control = dir.path().join("c.jsonl");
        std::fs::write(&control, "{\"ts\":\"2024-01-02T14:30:00Z\",\"command\":\"flatten\"}\n").unwrap();
        let rows = read_all::<Control>(&control, &symbols);
        assert_eq!(rows[0].1.as_ref().unwrap().command, Command::Flatten);
    }
}
