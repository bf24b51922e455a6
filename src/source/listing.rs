//! Directories as listed for the restart recoveries ([`super::resume`],
//! [`super::compressed`]): each regular file with its first bytes, and for gzip files their
//! first bytes decompressed. A directory is listed once per scan however many checkpoints look
//! into it (a restart after thousands of files went away while the agent was down must not
//! list and open the directory once per checkpoint), and at most [`MAX_LISTED`] files of it
//! are kept.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::compressed::gz_head;
use super::fds;
use super::fingerprint::{file_id, read_head, FileId, HeadBytes, HEAD_MAX};

/// Most files of one directory looked at (about 600 bytes each).
const MAX_LISTED: usize = 32 * 1024;

/// A regular file of a listed directory.
pub(crate) struct Listed {
    pub path: PathBuf,
    pub id: FileId,
    pub len: u64,
    pub mtime: SystemTime,
    /// Its first bytes as stored.
    pub head: HeadBytes,
    /// For a gzip file: its first bytes decompressed.
    pub gz_head: Option<HeadBytes>,
}

/// The directories listed since the last [`Listings::clear`].
#[derive(Default)]
pub(crate) struct Listings {
    dirs: HashMap<PathBuf, Vec<Listed>>,
}

impl Listings {
    /// The regular files of `dir`, listed on first use.
    pub(crate) fn of(&mut self, dir: &Path) -> &[Listed] {
        self.dirs
            .entry(dir.to_path_buf())
            .or_insert_with(|| list(dir))
    }

    /// Forget what was listed (the directories change).
    pub(crate) fn clear(&mut self) {
        self.dirs.clear();
    }
}

fn list(dir: &Path) -> Vec<Listed> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        if out.len() >= MAX_LISTED {
            break;
        }
        // Not following links: a link to a device or a FIFO is never opened.
        let Ok(md) = e.metadata() else { continue };
        if !md.is_file() {
            continue;
        }
        let path = e.path();
        // One descriptor at a time, closed before the next.
        let Ok(file) = fds::open(&path) else { continue };
        if !file.metadata().is_ok_and(|m| file_id(&m) == file_id(&md)) {
            continue; // replaced since listed
        }
        let mut buf = [0u8; HEAD_MAX];
        let n = read_head(&file, HEAD_MAX, &mut buf).unwrap_or(0);
        out.push(Listed {
            path,
            id: file_id(&md),
            len: md.len(),
            mtime: md.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            head: HeadBytes::new(&buf[..n]),
            gz_head: gz_head(&file, &buf[..n]),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_is_listed_once_until_cleared() {
        let d = tempfile::tempdir().expect("tempdir");
        fs::write(d.path().join("a.log"), b"one\n").expect("write");
        std::os::unix::fs::symlink("/dev/zero", d.path().join("zero.log")).expect("symlink");
        let mut l = Listings::default();
        let names = |l: &mut Listings| -> Vec<String> {
            let mut v: Vec<String> = l
                .of(d.path())
                .iter()
                .map(|f| {
                    f.path
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned()
                })
                .collect();
            v.sort();
            v
        };
        // Regular files only: the link to a device is not opened.
        assert_eq!(names(&mut l), ["a.log"]);
        assert_eq!(l.of(d.path())[0].head.as_slice(), b"one\n");
        fs::write(d.path().join("b.log"), b"two\n").expect("write");
        assert_eq!(names(&mut l), ["a.log"], "listed once per scan");
        l.clear();
        assert_eq!(names(&mut l), ["a.log", "b.log"]);
    }
}
