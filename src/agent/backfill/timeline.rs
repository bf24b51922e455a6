//! The values of every series at each step boundary, kept until they can no longer change,
//! then written as timestamped OpenMetrics.
//!
//! A boundary is recorded (captured) as soon as a line later than it arrives, so in-order lines
//! are applied to the store once, straight away. A line up to the out-of-order window late is
//! applied to the store too, and its updates are added to the boundaries already recorded at or
//! after its time ([`Timeline::patch`]): it lands at the step it belongs to. Boundaries older
//! than the window cannot change any more; they are written out a chunk at a time, every family
//! once per chunk, each series' points together and in time order.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::export::openmetrics_backfill as om;
use crate::rules::{Change, Update};
use crate::store::{Family, Series};

/// One series' recorded values over the boundaries `start..start + n` of the timeline.
struct Track {
    key: Box<[u8]>,
    /// Label text (`a="x",job="…"`).
    labels: String,
    /// Index of its first boundary in [`Timeline::steps`].
    start: usize,
    /// `width` values per boundary.
    vals: Vec<f64>,
    /// No point written yet: the series is born in the next chunk written, so its first point
    /// is preceded by a 0 (see [`om::PointWriter::series`]).
    born: bool,
}

impl Track {
    fn end(&self, width: usize) -> usize {
        self.start + self.vals.len() / width
    }
}

struct Fam {
    fam: Arc<Family>,
    width: usize,
    /// The family's generation at the last capture (it changes when series expire).
    generation: u64,
    /// Track of the n-th series in the family's order at the last capture.
    pos: Vec<usize>,
    tracks: Vec<Track>,
    /// Key → its newest track.
    index: HashMap<Box<[u8]>, usize>,
}

/// Where the written chunks go: one file, or one file per chunk.
pub trait Sink {
    /// A chunk whose first boundary is `first` (unix ms) starts.
    fn begin(&mut self, first: i64) -> std::io::Result<()>;
    /// Text of the current chunk.
    fn write(&mut self, text: &[u8]) -> std::io::Result<()>;
    /// The current chunk is complete.
    fn end(&mut self) -> std::io::Result<()>;
    /// Everything is written.
    fn finish(&mut self) -> std::io::Result<()>;
}

/// All chunks in one exposition: a family appears once per chunk, `# EOF` at the very end.
#[derive(Debug)]
pub struct OneFile<W: Write>(pub W);

impl<W: Write> Sink for OneFile<W> {
    fn begin(&mut self, _first: i64) -> std::io::Result<()> {
        Ok(())
    }
    fn write(&mut self, text: &[u8]) -> std::io::Result<()> {
        self.0.write_all(text)
    }
    fn end(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn finish(&mut self) -> std::io::Result<()> {
        self.0.write_all(om::EOF.as_bytes())?;
        self.0.flush()
    }
}

/// One complete exposition per chunk, `DIR/<first boundary, unix seconds>.om`: each file holds
/// every family once and lies within one or two of promtool's 2-hour blocks, so promtool reads
/// each file once or twice (it reads a whole file once per block the file spans).
#[derive(Debug)]
pub struct ChunkFiles {
    dir: PathBuf,
    cur: Option<std::io::BufWriter<std::fs::File>>,
    /// Files written, in time order.
    pub files: Vec<PathBuf>,
}

impl ChunkFiles {
    /// Chunks into directory `dir` (which must exist).
    pub fn new(dir: &Path) -> ChunkFiles {
        ChunkFiles {
            dir: dir.into(),
            cur: None,
            files: Vec::new(),
        }
    }
}

impl Sink for ChunkFiles {
    fn begin(&mut self, first: i64) -> std::io::Result<()> {
        let path = self.dir.join(format!("{}.om", first.div_euclid(1000)));
        let f = std::fs::File::create(&path)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        self.cur = Some(std::io::BufWriter::with_capacity(1 << 20, f));
        self.files.push(path);
        Ok(())
    }
    fn write(&mut self, text: &[u8]) -> std::io::Result<()> {
        match &mut self.cur {
            Some(w) => w.write_all(text),
            None => Ok(()),
        }
    }
    fn end(&mut self) -> std::io::Result<()> {
        if let Some(mut w) = self.cur.take() {
            w.write_all(om::EOF.as_bytes())?;
            w.flush()?;
        }
        Ok(())
    }
    fn finish(&mut self) -> std::io::Result<()> {
        self.end()
    }
}

/// Recorded boundaries not yet written, and where they go.
pub struct Timeline<W: Sink> {
    fams: Vec<Fam>,
    /// Unix ms of the recorded boundaries, ascending.
    steps: Vec<i64>,
    extra: Vec<(String, String)>,
    out: W,
    buf: String,
    /// The last boundary written out (late lines before it cannot be placed any more).
    written: Option<i64>,
    /// Samples written so far.
    pub samples: u64,
    /// Unchanged values are written again after this long (see [`om::PointWriter`]).
    refresh_ms: i64,
    /// Distance between boundaries, except across a skipped stretch.
    step_ms: i64,
}

/// Write the text buffer out once it is this large.
const FLUSH_BYTES: usize = 1 << 20;

impl<W: Sink> Timeline<W> {
    /// A timeline over `families` (written in this order), adding the `extra` labels to every
    /// series, writing to `out`; boundaries are `step_ms` apart (except across skipped
    /// stretches), and a value that did not change is written again after `refresh_ms`.
    pub fn new(
        families: Vec<Arc<Family>>,
        extra: Vec<(String, String)>,
        out: W,
        refresh_ms: i64,
        step_ms: i64,
    ) -> Self {
        let fams = families
            .into_iter()
            .map(|fam| Fam {
                width: om::width(fam.desc()),
                generation: fam.generation(),
                fam,
                pos: Vec::new(),
                tracks: Vec::new(),
                index: HashMap::new(),
            })
            .collect();
        Timeline {
            fams,
            steps: Vec::new(),
            extra,
            out,
            buf: String::with_capacity(FLUSH_BYTES * 2),
            written: None,
            samples: 0,
            refresh_ms,
            step_ms,
        }
    }

    /// The first recorded boundary not yet written, if any.
    pub fn first(&self) -> Option<i64> {
        self.steps.first().copied()
    }

    /// The last recorded boundary, if any is kept.
    pub fn last(&self) -> Option<i64> {
        self.steps.last().copied()
    }

    /// Record the current value of every series at boundary `at` (after the last one).
    pub fn capture(&mut self, at: i64) {
        debug_assert!(self.steps.last().is_none_or(|l| *l < at));
        self.steps.push(at);
        let cur = self.steps.len() - 1;
        let extra = &self.extra;
        for fam in &mut self.fams {
            let family = fam.fam.clone();
            let g = family.generation();
            // Series were removed (expiry): find each one's track by key once.
            let slow = g != fam.generation;
            if slow {
                fam.generation = g;
                fam.pos.clear();
            }
            let mut i = 0;
            family.for_each(|s| {
                let t = match fam.pos.get(i) {
                    Some(t) => *t,
                    None => {
                        let t = fam.track_for(&family, s, cur, extra);
                        fam.pos.push(t);
                        t
                    }
                };
                om::record(s, &mut fam.tracks[t].vals);
                i += 1;
            });
        }
    }

    /// True when a line at `at` can still be placed: no boundary at or after it is written.
    pub fn accepts(&self, at: i64) -> bool {
        self.written.is_none_or(|w| at > w)
    }

    /// Add a late line's update (made at `at`, before the last boundary) to the boundaries
    /// recorded at or after `at`; check [`Timeline::accepts`] before applying the line.
    pub fn patch(&mut self, at: i64, u: &Update<'_>) {
        debug_assert!(self.accepts(at));
        let j = self.steps.partition_point(|b| *b < at);
        let n = self.steps.len();
        if j == n {
            return;
        }
        let Some(fam) = self.fams.iter_mut().find(|f| Arc::ptr_eq(&f.fam, u.family)) else {
            return;
        };
        let w = fam.width;
        let ti = match fam.index.get(u.series.key()) {
            Some(t) if fam.tracks[*t].end(w) == n => *t,
            // A new series (or one that expired and came back): it starts at this line's step.
            _ => {
                let mut labels = String::new();
                om::labels(&mut labels, &fam.fam, u.series, &self.extra);
                fam.tracks.push(Track {
                    key: u.series.key().into(),
                    labels,
                    start: n,
                    vals: Vec::new(),
                    born: true,
                });
                let t = fam.tracks.len() - 1;
                fam.index.insert(u.series.key().into(), t);
                t
            }
        };
        let track = &mut fam.tracks[ti];
        if track.start > j {
            // The series existed before its first recorded boundary (in log time): it was 0.
            let zeros = (track.start - j) * w;
            track.vals.splice(0..0, std::iter::repeat_n(0.0, zeros));
            track.start = j;
        }
        let bounds = &fam.fam.desc().buckets;
        let from = (j - track.start) * w;
        for v in track.vals[from..].chunks_exact_mut(w) {
            match u.change {
                Change::Add(d) => v[0] += d,
                Change::Set(x) => v[0] = x,
                Change::Observe(x) => {
                    for (b, c) in v[..w - 2].iter_mut().enumerate() {
                        if bounds.get(b).is_none_or(|le| x <= *le) {
                            *c += 1.0;
                        }
                    }
                    v[w - 2] += x;
                    v[w - 1] += 1.0;
                }
            }
        }
    }

    /// Write out the boundaries up to and including `upto` (they will not change any more).
    pub fn write_until(&mut self, upto: i64) -> std::io::Result<()> {
        let k = self.steps.partition_point(|b| *b <= upto);
        if k == 0 {
            return Ok(());
        }
        self.out.begin(self.steps[0])?;
        let times: Vec<String> = self.steps[..k]
            .iter()
            .map(|ms| {
                let mut t = String::new();
                om::timestamp(&mut t, *ms);
                t
            })
            .collect();
        let mut last = Vec::new();
        for fam in &mut self.fams {
            let w = fam.width;
            let mut header = false;
            let writer = om::PointWriter::new(fam.fam.desc(), self.refresh_ms, self.step_ms);
            for t in &mut fam.tracks {
                if t.start >= k {
                    continue;
                }
                // Born here: it was 0 one step before its first point (boundaries may be
                // sparse where no line fell, so not the previous recorded boundary).
                let born = std::mem::take(&mut t.born).then(|| self.steps[t.start] - self.step_ms);
                if !header {
                    let _ = om::header(&mut self.buf, fam.fam.desc());
                    header = true;
                }
                let end = t.end(w).min(k);
                self.samples += writer.series(
                    &mut self.buf,
                    &t.labels,
                    born,
                    &self.steps[t.start..end],
                    &times[t.start..end],
                    &t.vals[..(end - t.start) * w],
                    &mut last,
                );
                if self.buf.len() >= FLUSH_BYTES {
                    self.out.write(self.buf.as_bytes())?;
                    self.buf.clear();
                }
            }
            fam.drop_before(k);
        }
        self.written = Some(self.steps[k - 1]);
        self.steps.drain(..k);
        self.out.write(self.buf.as_bytes())?;
        self.buf.clear();
        self.out.end()
    }

    /// Write everything left and `# EOF`; returns the writer and the samples written.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
        if let Some(last) = self.last() {
            self.write_until(last)?;
        }
        self.out.finish()?;
        Ok((self.out, self.samples))
    }
}

impl Fam {
    /// The track that continues series `s` at boundary `cur`, or a new one starting there.
    fn track_for(
        &mut self,
        family: &Family,
        s: &Series,
        cur: usize,
        extra: &[(String, String)],
    ) -> usize {
        if let Some(t) = self.index.get(s.key()) {
            if self.tracks[*t].end(self.width) == cur {
                return *t;
            }
        }
        let mut labels = String::new();
        om::labels(&mut labels, family, s, extra);
        self.tracks.push(Track {
            key: s.key().into(),
            labels,
            start: cur,
            vals: Vec::new(),
            born: true,
        });
        let t = self.tracks.len() - 1;
        self.index.insert(s.key().into(), t);
        t
    }

    /// Forget the first `k` boundaries: tracks that ended drop out, the others shift.
    fn drop_before(&mut self, k: usize) {
        let w = self.width;
        let mut new_idx = vec![usize::MAX; self.tracks.len()];
        let mut kept = Vec::with_capacity(self.tracks.len());
        for (i, mut t) in std::mem::take(&mut self.tracks).into_iter().enumerate() {
            if t.end(w) <= k {
                continue;
            }
            let gone = k.saturating_sub(t.start);
            t.vals.drain(..gone * w);
            t.start = t.start.saturating_sub(k);
            new_idx[i] = kept.len();
            kept.push(t);
        }
        self.tracks = kept;
        self.index.clear();
        for (i, t) in self.tracks.iter().enumerate() {
            self.index.insert(t.key.clone(), i);
        }
        // Every boundary written: the series' tracks ended too. The next capture finds (or
        // starts) each series' track by key.
        if self.pos.iter().any(|p| new_idx[*p] == usize::MAX) {
            self.pos.clear();
        } else {
            for p in &mut self.pos {
                *p = new_idx[*p];
            }
        }
    }
}
