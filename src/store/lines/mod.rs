//! The line view's store: per source, the most recent lines worth keeping (5xx responses,
//! lines that did not parse...), bounded in bytes per source and in total, for `GET /lines`.
//!
//! Rules decide what to keep (rarely: a 5xx among thousands of 2xx) and hand the raw line to a
//! source's [`SourceLines`]; the text is cleaned and redacted there ([`redact`]), before it
//! takes the store's one lock, which is held only to push, evict and copy out `Arc`s. Eviction
//! is oldest first: within the source's budget for its kind of line, then, across sources, from
//! the source holding the most bytes, so one noisy source cannot push out every other source's
//! lines. A source's lines that its keep rules select (the 5xx) and its lines that did not
//! parse have budgets of their own ([`Budget`]): a changed log format, which makes every line
//! unparsed, cannot evict the 5xx lines kept before it.
//!
//! Each kept line carries its line reference (`{source}:{run}:{seq}`, what exemplars carry),
//! so an exemplar on a metric resolves to the line that made it, as long as it is kept.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{push_label, Desc, Family, Kind, Label, Series, Store};

pub mod redact;

pub use redact::{Redact, Redactor};

/// A reference to one record of one source in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRef {
    /// Source name.
    pub source: String,
    /// Random per compiled rule set (a restart of the source or of the agent changes it).
    pub run: u32,
    /// Records applied before this one.
    pub seq: u64,
}

impl fmt::Display for LineRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{:08x}:{}", self.source, self.run, self.seq)
    }
}

/// A string that is not a line reference.
#[derive(Debug, thiserror::Error)]
#[error("not a line reference (source:run:seq)")]
pub struct BadLineRef;

impl FromStr for LineRef {
    type Err = BadLineRef;
    fn from_str(s: &str) -> Result<LineRef, BadLineRef> {
        // The source name may hold ':'; run and seq never do.
        let (rest, seq) = s.rsplit_once(':').ok_or(BadLineRef)?;
        let (source, run) = rest.rsplit_once(':').ok_or(BadLineRef)?;
        if run.len() != 8 {
            return Err(BadLineRef);
        }
        Ok(LineRef {
            source: source.to_string(),
            run: u32::from_str_radix(run, 16).map_err(|_| BadLineRef)?,
            seq: seq.parse().map_err(|_| BadLineRef)?,
        })
    }
}

/// The store's caps and access (`global.lines`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of kept lines, all sources together (0: nothing is kept).
    pub max_bytes: usize,
    /// A kept line's text is cut here.
    pub max_line_bytes: usize,
    /// `/lines` may be served without authentication on a non-loopback listener.
    pub allow_unauthenticated: bool,
}

/// A source's cap, shared between the two kinds of line it keeps, each evicting only its own:
/// lines its keep rules select, and lines that did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Bytes for lines the keep rules select.
    pub matched: usize,
    /// Bytes for lines that did not parse.
    pub unparsed: usize,
}

impl Budget {
    /// `cap` for a source that keeps selected lines (`matched`), unparsed lines (`unparsed`) or
    /// both: when both, a quarter for the unparsed lines (a few show a changed format as well
    /// as many), the rest for the selected ones.
    pub fn split(cap: usize, matched: bool, unparsed: bool) -> Budget {
        match (matched, unparsed) {
            (true, true) => Budget {
                matched: cap - cap / 4,
                unparsed: cap / 4,
            },
            (true, false) => Budget {
                matched: cap,
                unparsed: 0,
            },
            (false, true) => Budget {
                matched: 0,
                unparsed: cap,
            },
            (false, false) => Budget {
                matched: 0,
                unparsed: 0,
            },
        }
    }

    /// Both budgets together.
    pub fn total(&self) -> usize {
        self.matched + self.unparsed
    }
}

/// Longest field value kept (a field is a route, a status, a tenant, an id: short).
pub const MAX_FIELD_BYTES: usize = 256;

/// Bytes a heap allocation costs besides its contents (glibc: an 8-byte header, 16-byte
/// alignment), counted with each of a line's allocations.
const ALLOC_OVERHEAD: usize = 16;

/// Names of a source's fields, shared by its kept lines.
#[derive(Debug, PartialEq, Eq)]
pub struct FieldNames {
    /// In the order of [`Kept::values`].
    pub names: Box<[Box<str>]>,
    /// The exemplar field (`ref=` matches its value); its value is not redacted.
    pub exemplar: Option<usize>,
}

/// One kept line.
#[derive(Debug)]
pub struct Kept {
    /// Source name.
    pub source: Arc<str>,
    /// The rule set's run (see [`LineRef`]).
    pub run: u32,
    /// The record's number in that run.
    pub seq: u64,
    /// When it was applied, unix milliseconds.
    pub time_ms: u64,
    /// The file it was read from.
    pub file: Arc<str>,
    /// It parsed (else it was kept for not parsing, and has no field values).
    pub parsed: bool,
    /// The text was cut at `global.lines.max_line_bytes`.
    pub truncated: bool,
    /// Field names.
    pub fields: Arc<FieldNames>,
    /// Field values, cleaned and (except the exemplar field) redacted; empty when absent.
    pub values: Box<[Box<str>]>,
    /// The line, cleaned and redacted.
    pub text: Box<str>,
}

impl Kept {
    /// `{source}:{run}:{seq}`, as exemplars carry it.
    pub fn line_ref(&self) -> String {
        LineRef {
            source: self.source.to_string(),
            run: self.run,
            seq: self.seq,
        }
        .to_string()
    }

    /// The value of field `name` (`None`: the source has no such field).
    pub fn field(&self, name: &str) -> Option<&str> {
        let i = self.fields.names.iter().position(|n| &**n == name)?;
        self.values.get(i).map(|v| &**v)
    }

    /// The exemplar field's value, when the source has one and the line had it.
    pub fn exemplar(&self) -> Option<&str> {
        let v = self.values.get(self.fields.exemplar?)?;
        (!v.is_empty()).then_some(&**v)
    }

    /// What this line counts against the caps: its struct, its slot's `Arc`, its text and
    /// values, and the allocator's overhead on each of them.
    fn cost(&self) -> usize {
        std::mem::size_of::<Kept>()
            + 2 * std::mem::size_of::<usize>()
            + self.text.len()
            + self.values.len() * std::mem::size_of::<Box<str>>()
            + self.values.iter().map(|v| v.len()).sum::<usize>()
            + ALLOC_OVERHEAD * (3 + self.values.len())
    }
}

/// Where a kept line comes from, besides its text and fields.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The rule set's run.
    pub run: u32,
    /// The record's number.
    pub seq: u64,
    /// Unix milliseconds.
    pub time_ms: u64,
    /// File path.
    pub file: &'a Arc<str>,
    /// The line parsed.
    pub parsed: bool,
}

/// One kind of a source's lines, within its budget.
#[derive(Default)]
struct Part {
    lines: VecDeque<Arc<Kept>>,
    bytes: usize,
    cap: usize,
}

impl Part {
    const EMPTY: Part = Part {
        lines: VecDeque::new(),
        bytes: 0,
        cap: 0,
    };

    /// Bytes held per byte of budget (how full it is), for eviction across sources.
    fn fill(&self) -> f64 {
        self.bytes as f64 / self.cap.max(1) as f64
    }
}

struct Buf {
    name: Arc<str>,
    fields: Arc<FieldNames>,
    /// Lines the keep rules selected.
    matched: Part,
    /// Lines that did not parse.
    unparsed: Part,
    m: BufMetrics,
}

struct BufMetrics {
    kept: Arc<Series>,
    evicted: Arc<Series>,
    stored: Arc<Series>,
    bytes: Arc<Series>,
}

impl Buf {
    fn part(&mut self, parsed: bool) -> &mut Part {
        if parsed {
            &mut self.matched
        } else {
            &mut self.unparsed
        }
    }

    fn bytes(&self) -> usize {
        self.matched.bytes + self.unparsed.bytes
    }

    /// Evict the oldest line of one kind; the bytes freed.
    fn pop(&mut self, parsed: bool) -> Option<usize> {
        let p = self.part(parsed);
        let k = p.lines.pop_front()?;
        let c = k.cost();
        p.bytes -= c;
        self.m.evicted.add(1.0);
        Some(c)
    }

    fn report(&self) {
        self.m
            .stored
            .set((self.matched.lines.len() + self.unparsed.lines.len()) as f64);
        self.m.bytes.set(self.bytes() as f64);
    }
}

#[derive(Default)]
struct Inner {
    sources: Vec<Buf>,
    total: usize,
}

impl Inner {
    /// Evict oldest-first until each kind of source `i`'s lines fits its budget and all fit
    /// the total; across sources, from the one holding the most bytes, the kind that fills
    /// the larger share of its budget.
    fn evict(&mut self, i: usize, total_cap: usize) {
        for parsed in [true, false] {
            while self.sources[i].part(parsed).bytes > self.sources[i].part(parsed).cap {
                match self.sources[i].pop(parsed) {
                    Some(c) => self.total -= c,
                    None => break,
                }
            }
        }
        while self.total > total_cap {
            let Some(j) = (0..self.sources.len()).max_by_key(|&j| self.sources[j].bytes()) else {
                break;
            };
            let b = &mut self.sources[j];
            let parsed = b.unparsed.lines.is_empty()
                || (!b.matched.lines.is_empty() && b.matched.fill() > b.unparsed.fill());
            match b.pop(parsed) {
                Some(c) => self.total -= c,
                None => break,
            }
            self.sources[j].report();
        }
        self.sources[i].report();
    }
}

/// Families of the line view's self-metrics.
struct Families {
    kept: Arc<Family>,
    evicted: Arc<Family>,
    stored: Arc<Family>,
    bytes: Arc<Family>,
}

fn family(store: &Store, name: &str, kind: Kind, help: &str) -> Arc<Family> {
    let desc = Desc {
        name: name.into(),
        help: help.into(),
        kind,
        labels: vec![Label::bounded("source")],
        buckets: vec![],
    };
    match store.register(desc, usize::MAX) {
        Ok(f) => f,
        // Fixed, unique descriptions: registration cannot conflict.
        Err(e) => unreachable!("{e}"),
    }
}

/// Every source's kept lines.
pub struct LineStore {
    inner: Mutex<Inner>,
    max_bytes: usize,
    max_line_bytes: usize,
    allow_unauthenticated: bool,
    redactor: Redactor,
    families: Families,
}

impl std::fmt::Debug for LineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineStore")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// A query of the store (`GET /lines`).
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only this source.
    pub source: Option<String>,
    /// Only lines applied at or after this time (unix ms).
    pub since_ms: Option<u64>,
    /// A line reference (`web:1f3a9c20:12`) or an exemplar field value (a request id).
    pub reference: Option<String>,
    /// Only lines that parsed (`true`) or that did not (`false`).
    pub parsed: Option<bool>,
    /// `(field, value)`: the field must have this value; a value like `5xx` matches any
    /// three-digit value starting with `5`.
    pub fields: Vec<(String, String)>,
    /// Most lines returned (newest first).
    pub limit: usize,
}

/// A source's totals, for the answer and the status page.
#[derive(Debug, Clone)]
pub struct SourceSummary {
    /// Source name.
    pub name: String,
    /// Lines held.
    pub lines: usize,
    /// Of which did not parse.
    pub unparsed_lines: usize,
    /// Bytes counted against the caps.
    pub bytes: usize,
    /// Its cap (both budgets).
    pub cap: usize,
    /// Its budget for lines that did not parse.
    pub unparsed_cap: usize,
    /// Lines kept since start.
    pub kept: u64,
    /// Lines evicted since start.
    pub evicted: u64,
    /// The fields it stores.
    pub fields: Vec<String>,
}

/// What a query finds.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    /// Matching lines, newest first, at most the query's limit.
    pub lines: Vec<Arc<Kept>>,
    /// Lines matching in all (may exceed `lines.len()`).
    pub matched: usize,
    /// Every source's totals.
    pub sources: Vec<SourceSummary>,
}

/// `v` matches filter `want`: equal, or a class like `5xx` and a three-digit value in it.
fn matches(v: &str, want: &str) -> bool {
    if v == want {
        return true;
    }
    let (w, b) = (want.as_bytes(), v.as_bytes());
    w.len() == 3
        && w[1..].eq_ignore_ascii_case(b"xx")
        && b.len() == 3
        && b[0] == w[0]
        && b[1..].iter().all(u8::is_ascii_digit)
}

impl LineStore {
    /// A store with these caps and masks; its self-metrics are registered in `selfstore`.
    pub fn new(limits: Limits, redact: &Redact, selfstore: &Store) -> Arc<LineStore> {
        Arc::new(LineStore {
            inner: Mutex::new(Inner::default()),
            max_bytes: limits.max_bytes,
            max_line_bytes: limits.max_line_bytes,
            allow_unauthenticated: limits.allow_unauthenticated,
            redactor: Redactor::new(redact),
            families: Families {
                kept: family(
                    selfstore,
                    "logpulse_lines_kept_total",
                    Kind::Counter,
                    "Lines kept by the line view (GET /lines), per source.",
                ),
                evicted: family(
                    selfstore,
                    "logpulse_lines_evicted_total",
                    Kind::Counter,
                    "Kept lines evicted to stay within the line view's caps, per source.",
                ),
                stored: family(
                    selfstore,
                    "logpulse_lines_stored",
                    Kind::Gauge,
                    "Lines held by the line view, per source.",
                ),
                bytes: family(
                    selfstore,
                    "logpulse_lines_stored_bytes",
                    Kind::Gauge,
                    "Bytes the line view's kept lines count against its caps, per source.",
                ),
            },
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change is complete before the lock is released: a poisoned lock is consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `/lines` may be served without authentication on a non-loopback listener.
    pub fn allow_unauthenticated(&self) -> bool {
        self.allow_unauthenticated
    }

    /// The handle through which source `name` keeps lines within `budget`, with these fields;
    /// `None` when nothing can be kept (a budget of 0). Lines already held under that name stay
    /// (a source restarted by a reload keeps them); its budgets become `budget`.
    pub fn source(
        self: &Arc<Self>,
        name: &str,
        budget: Budget,
        fields: FieldNames,
    ) -> Option<SourceLines> {
        if budget.total() == 0 || self.max_bytes == 0 {
            return None;
        }
        let fields = Arc::new(fields);
        let mut inner = self.lock();
        let idx = match inner.sources.iter().position(|b| &*b.name == name) {
            Some(i) => i,
            None => {
                let mut key = Vec::new();
                push_label(&mut key, name.as_bytes());
                let f = &self.families;
                inner.sources.push(Buf {
                    name: name.into(),
                    fields: fields.clone(),
                    matched: Part::default(),
                    unparsed: Part::default(),
                    m: BufMetrics {
                        kept: f.kept.declare(&key),
                        evicted: f.evicted.declare(&key),
                        stored: f.stored.declare(&key),
                        bytes: f.bytes.declare(&key),
                    },
                });
                inner.sources.len() - 1
            }
        };
        inner.sources[idx].matched.cap = budget.matched;
        inner.sources[idx].unparsed.cap = budget.unparsed;
        inner.sources[idx].fields = fields.clone();
        inner.evict(idx, self.max_bytes);
        let source = inner.sources[idx].name.clone();
        Some(SourceLines {
            store: self.clone(),
            idx,
            source,
            fields,
        })
    }

    /// Lines matching `q`, newest first.
    pub fn query(&self, q: &Query) -> Answer {
        let reference: Option<LineRef> = q.reference.as_deref().and_then(|r| r.parse().ok());
        let inner = self.lock();
        let mut found: Vec<Arc<Kept>> = Vec::new();
        for b in &inner.sources {
            if q.source.as_deref().is_some_and(|s| s != &*b.name) {
                continue;
            }
            let parts: [&Part; 2] = match q.parsed {
                Some(true) => [&b.matched, &Part::EMPTY],
                Some(false) => [&Part::EMPTY, &b.unparsed],
                None => [&b.matched, &b.unparsed],
            };
            for k in parts.into_iter().flat_map(|p| &p.lines) {
                if q.since_ms.is_some_and(|t| k.time_ms < t) {
                    continue;
                }
                if let Some(r) = &q.reference {
                    let by_ref = reference
                        .as_ref()
                        .is_some_and(|x| x.source == *k.source && x.run == k.run && x.seq == k.seq);
                    if !by_ref && k.exemplar() != Some(r.as_str()) {
                        continue;
                    }
                }
                let fields_ok = q
                    .fields
                    .iter()
                    .all(|(n, want)| k.field(n).is_some_and(|v| matches(v, want)));
                if fields_ok {
                    found.push(k.clone());
                }
            }
        }
        let sources = inner
            .sources
            .iter()
            .map(|b| SourceSummary {
                name: b.name.to_string(),
                lines: b.matched.lines.len() + b.unparsed.lines.len(),
                unparsed_lines: b.unparsed.lines.len(),
                bytes: b.bytes(),
                cap: b.matched.cap + b.unparsed.cap,
                unparsed_cap: b.unparsed.cap,
                kept: b.m.kept.scalar() as u64,
                evicted: b.m.evicted.scalar() as u64,
                fields: b.fields.names.iter().map(|n| n.to_string()).collect(),
            })
            .collect();
        drop(inner);
        // Newest first; within a millisecond, by record number.
        found.sort_by_key(|k| std::cmp::Reverse((k.time_ms, k.seq)));
        let matched = found.len();
        found.truncate(q.limit);
        Answer {
            lines: found,
            matched,
            sources,
        }
    }

    /// The field names of every source, each once, in the order sources define them.
    pub fn field_names(&self) -> Vec<String> {
        let inner = self.lock();
        let mut out: Vec<String> = Vec::new();
        for b in &inner.sources {
            for n in b.fields.names.iter() {
                if !out.iter().any(|o| o == &**n) {
                    out.push(n.to_string());
                }
            }
        }
        out
    }

    /// Bytes counted against the total cap.
    pub fn total_bytes(&self) -> usize {
        self.lock().total
    }
}

/// A source's handle for keeping lines.
pub struct SourceLines {
    store: Arc<LineStore>,
    idx: usize,
    source: Arc<str>,
    fields: Arc<FieldNames>,
}

impl std::fmt::Debug for SourceLines {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceLines")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl SourceLines {
    /// Keep a line: `text` as read, `values` the raw values of the source's fields in order
    /// (ignored for a line that did not parse). Cleaning and redaction happen here, before the
    /// lock.
    pub fn keep<'v>(&self, o: Origin<'_>, text: &[u8], values: impl Iterator<Item = &'v [u8]>) {
        let s = &self.store;
        let (text, truncated) = s.redactor.redact(text, s.max_line_bytes);
        let values: Box<[Box<str>]> = if o.parsed {
            values
                .take(self.fields.names.len())
                .enumerate()
                .map(|(i, v)| {
                    if Some(i) == self.fields.exemplar {
                        redact::clean(v, MAX_FIELD_BYTES).0.into_boxed_str()
                    } else {
                        s.redactor.redact(v, MAX_FIELD_BYTES).0.into_boxed_str()
                    }
                })
                .collect()
        } else {
            Box::new([])
        };
        let k = Arc::new(Kept {
            source: self.source.clone(),
            run: o.run,
            seq: o.seq,
            time_ms: o.time_ms,
            file: o.file.clone(),
            parsed: o.parsed,
            truncated,
            fields: self.fields.clone(),
            values,
            text: text.into_boxed_str(),
        });
        let cost = k.cost();
        let parsed = k.parsed;
        let mut inner = s.lock();
        let Some(b) = inner.sources.get_mut(self.idx) else {
            return;
        };
        b.m.kept.add(1.0);
        let part = b.part(parsed);
        if cost > part.cap {
            // Larger than its whole budget (a tiny cap, or a kind the source does not keep):
            // not kept, counted as evicted.
            b.m.evicted.add(1.0);
            return;
        }
        part.lines.push_back(k);
        part.bytes += cost;
        inner.total += cost;
        inner.evict(self.idx, s.max_bytes);
    }

    /// The field names this source stores.
    pub fn fields(&self) -> &FieldNames {
        &self.fields
    }
}

#[cfg(test)]
mod tests;
