//! Backfill input: plain or gzip-compressed files (multi-member, as `logrotate` and
//! `cat a.gz b.gz` make them), put in time order, read line by line.

use std::cell::Cell;
use std::cmp::Reverse;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Read size: large reads keep the per-line cost of I/O and decompression low.
const READ_BYTES: usize = 1 << 20;

/// An open input file.
pub(super) struct Opened {
    pub reader: Box<dyn Read>,
    /// Bytes read from the file itself so far (compressed bytes for a `.gz`).
    pub raw_read: Rc<Cell<u64>>,
    /// For gzip: where bytes that are not gzip data followed the last member, if they did.
    pub trailing: Rc<Cell<Option<Trailing>>>,
}

/// Bytes after the last gzip member that do not start another one (`gzip -d`: "decompression
/// OK, trailing garbage ignored").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Trailing {
    /// Offset in the file of the first such byte.
    pub at: u64,
    /// Members read before it.
    pub members: u64,
}

struct Counting {
    inner: File,
    read: Rc<Cell<u64>>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

type Raw = BufReader<Counting>;

/// The members of a gzip file one after another, as `gzip -d` reads them (logrotate appends
/// none, but `cat a.gz b.gz` and some shippers do). Bytes after a member that do not start
/// another are trailing garbage: reported through `trailing` and ignored, not taken for a
/// broken header. Errors say which member and where.
struct Members {
    dec: Option<flate2::bufread::GzDecoder<Raw>>,
    /// Members started so far.
    n: u64,
    raw: Rc<Cell<u64>>,
    trailing: Rc<Cell<Option<Trailing>>>,
}

impl Members {
    /// Offset in the file of the next byte the decoder will take.
    fn pos(raw: &Cell<u64>, r: &Raw) -> u64 {
        raw.get().saturating_sub(r.buffer().len() as u64)
    }

    fn explain(&self, e: std::io::Error, at: u64) -> std::io::Error {
        let n = self.n;
        let what = match e.kind() {
            std::io::ErrorKind::UnexpectedEof => format!(
                "the gzip data ends inside member {n}, at byte {at} (a cut copy, or a file still \
                 being compressed)"
            ),
            _ if e.to_string().contains("header") && n > 1 => format!(
                "bytes after gzip member {} (at byte {at}) start like a gzip member but are not one",
                n - 1
            ),
            _ if e.to_string().contains("checksum") => {
                format!("gzip member {n} fails its checksum (corrupt data, near byte {at})")
            }
            _ => format!("{e} (gzip member {n}, near byte {at})"),
        };
        std::io::Error::new(e.kind(), what)
    }
}

impl Read for Members {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(dec) = &mut self.dec else {
                return Ok(0);
            };
            match dec.read(buf) {
                Ok(0) => {}
                Ok(n) => return Ok(n),
                Err(e) => {
                    let at = Members::pos(&self.raw, dec.get_ref());
                    return Err(self.explain(e, at));
                }
            }
            // The member ended, its checksum verified: another member, the end, or garbage.
            let Some(dec) = self.dec.take() else {
                return Ok(0);
            };
            let mut r = dec.into_inner();
            let at = Members::pos(&self.raw, &r);
            let head = r.fill_buf()?;
            match head {
                [] => return Ok(0),
                // A next member (its magic may be cut by the buffer's end).
                [0x1f] | [0x1f, 0x8b, ..] => {
                    self.n += 1;
                    self.dec = Some(flate2::bufread::GzDecoder::new(r));
                }
                _ => {
                    self.trailing.set(Some(Trailing {
                        at,
                        members: self.n,
                    }));
                    return Ok(0);
                }
            }
        }
    }
}

/// Open `path`, decompressing gzip (told by its magic bytes, not its name). Other compressed
/// files are refused with a message saying so, rather than read as garbage lines.
pub(super) fn open(path: &Path) -> std::io::Result<Opened> {
    let read = Rc::new(Cell::new(0));
    let trailing = Rc::new(Cell::new(None));
    let file = File::open(path)?;
    let mut r = BufReader::with_capacity(
        READ_BYTES,
        Counting {
            inner: file,
            read: read.clone(),
        },
    );
    let head = r.fill_buf()?;
    let reader: Box<dyn Read> = match head {
        [0x1f, 0x8b, ..] => Box::new(Members {
            dec: Some(flate2::bufread::GzDecoder::new(r)),
            n: 1,
            raw: read.clone(),
            trailing: trailing.clone(),
        }),
        [0x28, 0xb5, 0x2f, 0xfd, ..]
        | [b'B', b'Z', b'h', ..]
        | [0xfd, b'7', b'z', b'X', b'Z', ..] => return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "zstd, bzip2 or xz compressed: only gzip is read; decompress it first (e.g. `zstd -d`)",
        )),
        _ => Box::new(r),
    };
    Ok(Opened {
        reader,
        raw_read: read,
        trailing,
    })
}

/// Where a file stands in a rotated set, from its name: `access.log.3.gz` and `access.log.1`
/// are older than `access.log`, `app.log-20261126` older than `app.log-20261127`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Rotation {
    base: String,
    /// Older first: (0, date) for dateext copies, (1, Reverse(n)) for numbered ones, (2, 0)
    /// for the live file.
    rank: (u8, Reverse<u64>, u64),
}

/// The rotation key of a file name.
pub(super) fn rotation(path: &Path) -> Rotation {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((base, n)) = stem.rsplit_once('.') {
        if digits(n) && n.len() <= 6 {
            if let Ok(n) = n.parse() {
                return Rotation {
                    base: base.into(),
                    rank: (1, Reverse(n), 0),
                };
            }
        }
    }
    if let Some((base, d)) = stem.rsplit_once('-') {
        if digits(d) && (8..=10).contains(&d.len()) {
            if let Ok(d) = d.parse() {
                return Rotation {
                    base: base.into(),
                    rank: (0, Reverse(0), d),
                };
            }
        }
    }
    Rotation {
        base: stem.into(),
        rank: (2, Reverse(0), 0),
    }
}

/// Order `files` oldest first: by the time of their first line when every file has one
/// (`first_time`), rotation names breaking ties; otherwise by rotation names alone.
pub(super) fn order(
    files: &[PathBuf],
    mut first_time: impl FnMut(&Path) -> Option<i64>,
) -> Vec<PathBuf> {
    let firsts: Vec<Option<i64>> = files.iter().map(|f| first_time(f)).collect();
    let mut v: Vec<(Option<i64>, Rotation, PathBuf)> = files
        .iter()
        .zip(firsts)
        .map(|(f, t)| (t, rotation(f), f.clone()))
        .collect();
    if v.iter().all(|(t, _, _)| t.is_some()) {
        v.sort_by(|a, b| (a.0, &a.1.rank).cmp(&(b.0, &b.1.rank)));
    } else {
        v.sort_by(|a, b| a.1.cmp(&b.1));
    }
    v.into_iter().map(|(_, _, f)| f).collect()
}

/// What [`for_each_line`] saw besides the lines.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct LineStats {
    /// Lines cut at the maximum length.
    pub too_long: u64,
}

/// Call `f` with every line of `r` (without its `\n`), lines longer than `max` cut to `max`
/// bytes (the rest of such a line is skipped). A last line without a newline is delivered.
/// `f` returns false to stop early.
pub(super) fn for_each_line(
    r: &mut dyn Read,
    max: usize,
    buf: &mut Vec<u8>,
    mut f: impl FnMut(&[u8]) -> bool,
) -> std::io::Result<LineStats> {
    let max = max.max(1);
    let mut stats = LineStats::default();
    buf.clear();
    buf.resize(READ_BYTES.max(max + 1), 0);
    // buf[..filled] holds unprocessed bytes; `skipping`: inside the rest of a cut line.
    let mut filled = 0;
    let mut skipping = false;
    loop {
        let n = match r.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let end = filled + n;
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', &buf[filled..end]) {
            let nl = filled + nl;
            if skipping {
                skipping = false;
            } else {
                let cut = (nl - start > max).then(|| stats.too_long += 1);
                let stop = start + if cut.is_some() { max } else { nl - start };
                if !f(&buf[start..stop]) {
                    return Ok(stats);
                }
            }
            start = nl + 1;
        }
        if n == 0 {
            if start < end && !skipping && !f(&buf[start..end]) {
                return Ok(stats);
            }
            return Ok(stats);
        }
        if skipping {
            filled = 0;
            continue;
        }
        let rest = end - start;
        if rest > max {
            // No newline within `max` bytes: deliver the cut line, skip to the next newline.
            stats.too_long += 1;
            if !f(&buf[start..start + max]) {
                return Ok(stats);
            }
            skipping = true;
            filled = 0;
            continue;
        }
        buf.copy_within(start..end, 0);
        filled = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines_of(data: &[u8], max: usize) -> (Vec<String>, u64) {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let st = for_each_line(&mut &data[..], max, &mut buf, |l| {
            out.push(String::from_utf8_lossy(l).into_owned());
            true
        })
        .unwrap();
        (out, st.too_long)
    }

    #[test]
    fn lines_cut_and_last_line_without_newline() {
        assert_eq!(lines_of(b"a\nbb\n\nccc", 100).0, vec!["a", "bb", "", "ccc"]);
        assert_eq!(lines_of(b"", 100).0, Vec::<String>::new());
        let (l, cut) = lines_of(b"abcdefgh\nxy\n", 4);
        assert_eq!((l, cut), (vec!["abcd".into(), "xy".into()], 1));
        // A long line across reads (larger than the read size).
        let mut big = vec![b'x'; READ_BYTES + 10];
        big.extend_from_slice(b"\nend\n");
        let (l, cut) = lines_of(&big, 16);
        assert_eq!((l, cut), (vec!["x".repeat(16), "end".into()], 1));
    }

    #[test]
    fn rotated_names_sort_oldest_first() {
        let names = [
            "access.log",
            "access.log.1",
            "access.log.10.gz",
            "access.log.2.gz",
            "app.log-20261127",
            "app.log-20261126.gz",
        ];
        let files: Vec<PathBuf> = names.iter().map(PathBuf::from).collect();
        let got: Vec<String> = order(&files, |_| None)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            got,
            [
                "access.log.10.gz",
                "access.log.2.gz",
                "access.log.1",
                "access.log",
                "app.log-20261126.gz",
                "app.log-20261127"
            ]
        );
        // With first times, those decide.
        let by_time = order(&files[..2], |p| {
            Some(if p.ends_with("access.log") { 1 } else { 2 })
        });
        assert_eq!(by_time[0], PathBuf::from("access.log"));
    }

    #[test]
    fn gzip_multi_member_and_plain() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("a.gz");
        let mut data = Vec::new();
        for part in ["one\ntwo\n", "three\n"] {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(part.as_bytes()).unwrap();
            data.extend(e.finish().unwrap());
        }
        std::fs::write(&gz, &data).unwrap();
        let mut o = open(&gz).unwrap();
        let mut s = String::new();
        o.reader.read_to_string(&mut s).unwrap();
        assert_eq!(s, "one\ntwo\nthree\n");
        assert_eq!(o.raw_read.get(), data.len() as u64);
        assert_eq!(o.trailing.get(), None);
        let zst = dir.path().join("a.zst");
        std::fs::write(&zst, [0x28, 0xb5, 0x2f, 0xfd, 0]).unwrap();
        assert!(open(&zst).err().unwrap().to_string().contains("only gzip"));
    }

    fn gz(text: &str) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    fn read_all(data: &[u8]) -> (String, std::io::Result<()>, Option<Trailing>) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.gz");
        std::fs::write(&f, data).unwrap();
        let mut o = open(&f).unwrap();
        let mut out = Vec::new();
        let r = o.reader.read_to_end(&mut out).map(|_| ());
        (String::from_utf8_lossy(&out).into(), r, o.trailing.get())
    }

    /// Trailing garbage is reported as such, after every line is read; a member cut short, a
    /// corrupt member and a fake member name the member and the offset.
    #[test]
    fn gzip_faults_say_what_happened() {
        let (a, b) = (gz("one\ntwo\n"), gz("three\n"));
        let mut data = [a.clone(), b.clone()].concat();
        data.extend_from_slice(b"\0\0garbage");
        let (text, r, t) = read_all(&data);
        assert_eq!(text, "one\ntwo\nthree\n");
        assert!(r.is_ok());
        let at = (a.len() + b.len()) as u64;
        assert_eq!(t, Some(Trailing { at, members: 2 }));

        let cut = [&a[..], &b[..b.len() - 5]].concat();
        let (text, r, _) = read_all(&cut);
        assert_eq!(text, "one\ntwo\nthree\n");
        let e = r.unwrap_err().to_string();
        assert!(e.contains("ends inside member 2"), "{e}");

        let mut bad = b.clone();
        let n = bad.len();
        bad[n - 6] ^= 0xff; // the CRC
        let (_, r, _) = read_all(&[&a[..], &bad[..]].concat());
        let e = r.unwrap_err().to_string();
        assert!(e.contains("member 2 fails its checksum"), "{e}");

        // Magic bytes, then a compression method that is not deflate.
        let fake = [0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3, b'x', b'y'];
        let (text, r, _) = read_all(&[&a[..], &fake[..]].concat());
        assert_eq!(text, "one\ntwo\n");
        let e = r.unwrap_err().to_string();
        assert!(e.contains("after gzip member 1"), "{e}");
    }
}
