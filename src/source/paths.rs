//! Globs → matched files, plus the directories to watch.
//!
//! Each pattern is split into a literal base directory and the components after it. A scan walks
//! only what the pattern can match: literal components are looked up with one `stat`, glob
//! components list one directory, and only `**` walks a subtree. Every directory looked into is
//! returned so the tailer can watch it; a base that does not exist yet is replaced by its nearest
//! existing ancestor, whose events tell us when the missing directory appears.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::path::{Component, Path, PathBuf};

use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};

use super::TailError;

/// Deepest `**` walk (guards against pathological trees).
const MAX_DEPTH: usize = 32;

#[derive(Debug)]
enum Comp {
    Literal(OsString),
    Glob(GlobMatcher),
}

#[derive(Debug)]
struct Pattern {
    base: PathBuf,
    /// Components after `base`; empty only for `**` patterns matched against the full path.
    comps: Vec<Comp>,
    /// Contains `**`: walk the whole subtree under `base` and match full paths.
    recursive: bool,
    /// No glob characters at all: a missing file is worth an error message.
    literal: Option<PathBuf>,
}

/// Compiled include/exclude patterns.
#[derive(Debug)]
pub(crate) struct Patterns {
    patterns: Vec<Pattern>,
    include: GlobSet,
    exclude_path: GlobSet,
    exclude_name: GlobSet,
}

/// Result of one scan.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Matched regular files (symlinks followed) with their metadata.
    pub files: HashMap<PathBuf, Metadata>,
    /// Directories looked into (to watch).
    pub dirs: HashSet<PathBuf>,
    /// Literal patterns whose file does not exist.
    pub missing: Vec<PathBuf>,
    /// Directories that could not be listed: (path, message).
    pub errors: Vec<(PathBuf, String)>,
    /// Matched paths that are symlinks → the file they resolve to. Writes to a symlinked file
    /// raise events in the target's directory, so that directory is watched too.
    pub links: HashMap<PathBuf, PathBuf>,
}

/// The existing directory a (dangling) symlink points into, one level deep.
fn dangling_link_dir(path: &Path) -> Option<PathBuf> {
    let target = fs::read_link(path).ok()?;
    let abs = if target.is_absolute() {
        target
    } else {
        path.parent()?.join(target)
    };
    fs::canonicalize(abs.parent()?).ok()
}

fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '{', '\\'])
}

fn glob(pattern: &str) -> Result<Glob, TailError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| TailError::Glob {
            pattern: pattern.to_string(),
            message: e.kind().to_string(),
        })
}

/// Make `p` absolute (relative to the current directory) and drop `.` components.
pub(crate) fn absolute(p: &str) -> Result<String, TailError> {
    let path = Path::new(p);
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        let cwd = std::env::current_dir().map_err(|e| TailError::Io {
            path: PathBuf::from("."),
            source: e,
        })?;
        cwd.join(path)
    };
    let mut out = PathBuf::new();
    for c in abs.components() {
        if c != Component::CurDir {
            out.push(c.as_os_str());
        }
    }
    Ok(out.to_string_lossy().into_owned())
}

impl Patterns {
    pub(crate) fn new(include: &[String], exclude: &[String]) -> Result<Patterns, TailError> {
        let mut patterns = Vec::new();
        let mut inc = GlobSetBuilder::new();
        for raw in include {
            let abs = absolute(raw)?;
            inc.add(glob(&abs)?);
            let parts: Vec<&str> = abs.split('/').filter(|s| !s.is_empty()).collect();
            // Base: literal leading components, but never the last one (the file name).
            let mut n_base = 0;
            while n_base + 1 < parts.len() && !has_meta(parts[n_base]) {
                n_base += 1;
            }
            let mut base = PathBuf::from("/");
            for p in &parts[..n_base] {
                base.push(p);
            }
            let rest = &parts[n_base..];
            let recursive = rest.iter().any(|p| p.contains("**"));
            let mut comps = Vec::new();
            if !recursive {
                for p in rest {
                    comps.push(if has_meta(p) {
                        Comp::Glob(glob(p)?.compile_matcher())
                    } else {
                        Comp::Literal(OsString::from(p))
                    });
                }
            }
            let literal = (!has_meta(&abs)).then(|| PathBuf::from(&abs));
            patterns.push(Pattern {
                base,
                comps,
                recursive,
                literal,
            });
        }
        let mut by_path = GlobSetBuilder::new();
        let mut by_name = GlobSetBuilder::new();
        for raw in exclude {
            if raw.contains('/') {
                by_path.add(glob(&absolute(raw)?)?);
            } else {
                by_name.add(glob(raw)?);
            }
        }
        let build = |b: GlobSetBuilder, what: &str| {
            b.build().map_err(|e| TailError::Glob {
                pattern: what.to_string(),
                message: e.kind().to_string(),
            })
        };
        Ok(Patterns {
            patterns,
            include: build(inc, &include.join(", "))?,
            exclude_path: build(by_path, &exclude.join(", "))?,
            exclude_name: build(by_name, &exclude.join(", "))?,
        })
    }

    /// Would `path` be matched (included and not excluded)?
    /// The literal base directory of each pattern.
    pub(crate) fn bases(&self) -> impl Iterator<Item = &Path> {
        self.patterns.iter().map(|p| p.base.as_path())
    }

    pub(crate) fn matches(&self, path: &Path) -> bool {
        self.include.is_match(path) && !self.excluded(path)
    }

    fn excluded(&self, path: &Path) -> bool {
        self.exclude_path.is_match(path)
            || path
                .file_name()
                .is_some_and(|n| self.exclude_name.is_match(Path::new(n)))
    }

    /// Walk the filesystem for matches.
    pub(crate) fn scan(&self) -> Scan {
        let mut scan = Scan::default();
        for p in &self.patterns {
            match fs::metadata(&p.base) {
                Ok(md) if md.is_dir() => {
                    if p.recursive {
                        self.walk_all(&p.base, 0, &mut scan);
                    } else {
                        self.walk(&p.base, &p.comps, &mut scan);
                    }
                }
                _ => {
                    // Wait for the base to appear: watch the nearest existing ancestor.
                    let mut a = p.base.as_path();
                    while let Some(parent) = a.parent() {
                        a = parent;
                        if fs::metadata(a).is_ok_and(|m| m.is_dir()) {
                            scan.dirs.insert(a.to_path_buf());
                            break;
                        }
                    }
                }
            }
            if let Some(lit) = &p.literal {
                if !scan.files.contains_key(lit) {
                    scan.missing.push(lit.clone());
                }
            }
        }
        scan
    }

    fn accept_file(&self, path: PathBuf, scan: &mut Scan) {
        if scan.files.contains_key(&path) || self.excluded(&path) {
            return;
        }
        if let Ok(md) = fs::metadata(&path) {
            if md.is_file() {
                if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
                    if let Ok(real) = fs::canonicalize(&path) {
                        if let Some(dir) = real.parent() {
                            scan.dirs.insert(dir.to_path_buf());
                        }
                        scan.links.insert(path.clone(), real);
                    }
                }
                scan.files.insert(path, md);
            }
        } else if let Some(dir) = dangling_link_dir(&path) {
            // A symlink whose target is missing right now (rotation in the target directory):
            // keep watching where the target will reappear.
            scan.dirs.insert(dir);
        }
    }

    fn walk(&self, dir: &Path, comps: &[Comp], scan: &mut Scan) {
        let Some((first, rest)) = comps.split_first() else {
            return;
        };
        scan.dirs.insert(dir.to_path_buf());
        let last = rest.is_empty();
        match first {
            Comp::Literal(name) => {
                let child = dir.join(name);
                if last {
                    self.accept_file(child, scan);
                } else if fs::metadata(&child).is_ok_and(|m| m.is_dir()) {
                    self.walk(&child, rest, scan);
                }
            }
            Comp::Glob(m) => {
                let entries = match fs::read_dir(dir) {
                    Ok(e) => e,
                    Err(e) => {
                        scan.errors.push((dir.to_path_buf(), e.to_string()));
                        return;
                    }
                };
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    if !m.is_match(Path::new(&name)) {
                        continue;
                    }
                    let child = entry.path();
                    if last {
                        self.accept_file(child, scan);
                    } else if fs::metadata(&child).is_ok_and(|m| m.is_dir()) {
                        self.walk(&child, rest, scan);
                    }
                }
            }
        }
    }

    fn walk_all(&self, dir: &Path, depth: usize, scan: &mut Scan) {
        scan.dirs.insert(dir.to_path_buf());
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                scan.errors.push((dir.to_path_buf(), e.to_string()));
                return;
            }
        };
        for entry in entries.flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            let path = entry.path();
            if ft.is_dir() {
                // Symlinked directories are not followed (no loops).
                if depth < MAX_DEPTH {
                    self.walk_all(&path, depth + 1, scan);
                }
            } else if self.include.is_match(&path) {
                self.accept_file(path, scan);
            }
        }
    }
}

/// The kind of network (or FUSE) filesystem `path`, or its nearest existing ancestor, is on:
/// inotify does not see changes made by other hosts there, so such sources are polled.
pub(crate) fn network_fs(path: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    let mut p = path;
    while !p.exists() {
        p = p.parent()?;
    }
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized, writable statfs.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    // Magic numbers from statfs(2); f_type's width differs between targets.
    match st.f_type as u64 & 0xffff_ffff {
        0x6969 => Some("nfs"),
        0x517b => Some("smb"),
        0xff53_4d42 => Some("cifs"),
        0xfe53_4d42 => Some("smb2"),
        0x6573_5546 => Some("fuse"),
        0x0102_1997 => Some("9p"),
        0x00c3_6400 => Some("ceph"),
        0x5346_414f => Some("afs"),
        0x7375_7245 => Some("coda"),
        0x0116_1970 => Some("gfs2"),
        0x7461_636f => Some("ocfs2"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_matches_and_excludes() {
        let d = tempfile::tempdir().expect("tempdir");
        let root = d.path();
        fs::create_dir_all(root.join("a/b")).expect("mkdir");
        for f in ["x.log", "x.log.1", "x.log.2.gz", "a/y.log", "a/b/z.log"] {
            fs::write(root.join(f), "1\n").expect("write");
        }
        let p = Patterns::new(
            &[
                format!("{}/x.log*", root.display()),
                format!("{}/**/*.log", root.display()),
            ],
            &["*.gz".to_string()],
        )
        .expect("patterns");
        let s = p.scan();
        let mut got: Vec<_> = s
            .files
            .keys()
            .map(|k| k.strip_prefix(root).expect("prefix").display().to_string())
            .collect();
        got.sort();
        assert_eq!(got, ["a/b/z.log", "a/y.log", "x.log", "x.log.1"]);
        assert!(s.dirs.contains(&root.join("a/b")));
    }

    #[test]
    fn local_filesystems_are_not_network() {
        let d = tempfile::tempdir().expect("tempdir");
        assert_eq!(network_fs(&d.path().join("not/yet/there.log")), None);
    }

    #[test]
    fn missing_base_watches_ancestor() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = Patterns::new(&[format!("{}/later/deeper/*.log", d.path().display())], &[])
            .expect("patterns");
        let s = p.scan();
        assert!(s.files.is_empty());
        assert!(s.dirs.contains(d.path()));
    }
}
