//! Checkpoint file: `{"version":2,"sources":{"<name>":[Checkpoint...]},"extra":...}`, saved
//! atomically. `extra` is what the agent saves with the offsets and reads back as it was (values
//! scrapers have not seen yet); this module does not look into it. Version 1 files (no `extra`)
//! are read too.
//!
//! `save` writes a temporary file in the same directory, fsyncs it, renames it over the target and
//! fsyncs the directory, so after a crash the file is either the old or the new version. The
//! temporary file has an unpredictable name and is created exclusively, without following links
//! and readable by the agent only (0600): a state directory others can write to cannot make it
//! overwrite another file.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Checkpoint;

/// The format version written by [`save`] (1, without `extra`, is read too).
pub const VERSION: u32 = 2;

/// Errors loading or saving checkpoints; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Reading, writing, syncing or renaming failed.
    #[error("checkpoint file {path}: {source}")]
    Io {
        /// The file (or directory) concerned.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not valid checkpoint JSON.
    #[error("checkpoint file {path} is corrupt: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Not a regular file (a symlink, FIFO, device or directory): not read.
    #[error("checkpoint file {path} is not a regular file ({what}); it was not read")]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        what: String,
    },
    /// Larger than [`MAX_FILE_BYTES`]: not read.
    #[error("checkpoint file {path} is larger than {limit} bytes; it was not read")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// Written by a newer (or unknown) format version.
    #[error("checkpoint file {path} has unsupported version {version} (expected {VERSION})")]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        version: u32,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat<'a> {
    /// Checked before (`VersionOnly`); known here so that `deny_unknown_fields` accepts it.
    #[serde(rename = "version")]
    _version: u32,
    sources: HashMap<String, Vec<Checkpoint>>,
    /// Kept as text, where it lies in the file's bytes: what it holds is read by its owner,
    /// value by value, never as a tree.
    #[serde(default, borrow)]
    extra: Option<&'a serde_json::value::RawValue>,
}

#[derive(Serialize)]
struct FileFormatRef<'a, E> {
    version: u32,
    sources: &'a HashMap<String, Vec<Checkpoint>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra: Option<&'a E>,
}

/// What a checkpoint file holds.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct State {
    /// Checkpoints per source.
    pub sources: HashMap<String, Vec<Checkpoint>>,
    /// What the agent saved with them ([`save_with`]), as the JSON text it was written as.
    pub extra: Option<Box<str>>,
}

/// Most bytes read from a checkpoint file (about 200 bytes per followed file, plus what the
/// store keeps with them): a larger file is refused unread, as a corrupt one is.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Read the checkpoint file: a regular file only, never through a symlink, never blocking (a
/// FIFO), at most [`MAX_FILE_BYTES`]. `None`: there is none (first run).
fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, CheckpointError> {
    use crate::regular::OpenError;
    use std::io::Read;
    let io_err = |e| CheckpointError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let not_regular = |what: &str| CheckpointError::NotRegular {
        path: path.to_path_buf(),
        what: what.to_string(),
    };
    let (file, md) = match crate::regular::open(path, false) {
        Ok(f) => f,
        Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(OpenError::Io(e)) => return Err(io_err(e)),
        Err(OpenError::NotRegular(what)) => return Err(not_regular(what)),
    };
    let too_large = || CheckpointError::TooLarge {
        path: path.to_path_buf(),
        limit: MAX_FILE_BYTES,
    };
    if md.len() > MAX_FILE_BYTES {
        return Err(too_large());
    }
    let mut data = Vec::with_capacity(md.len() as usize);
    // Bounded even if it grows while read.
    (&file)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(io_err)?;
    if data.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large());
    }
    Ok(Some(data))
}

/// Load checkpoints per source. A missing file is an empty map (first run). Anything but a
/// regular file of at most [`MAX_FILE_BYTES`] is an error naming the file, unread.
pub fn load(path: &Path) -> Result<HashMap<String, Vec<Checkpoint>>, CheckpointError> {
    load_state(path).map(|s| s.sources)
}

/// [`load`], and what was saved with the checkpoints.
pub fn load_state(path: &Path) -> Result<State, CheckpointError> {
    let Some(mut data) = read_bounded(path)? else {
        return Ok(State::default());
    };
    // Check the version first so a future format gives a clear message.
    #[derive(Deserialize)]
    struct VersionOnly {
        version: u32,
    }
    let v: VersionOnly = serde_json::from_slice(&data).map_err(|e| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if !(1..=VERSION).contains(&v.version) {
        return Err(CheckpointError::Version {
            path: path.to_path_buf(),
            version: v.version,
        });
    }
    let f: FileFormat = serde_json::from_slice(&data).map_err(|e| CheckpointError::Corrupt {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    // The saved text is cut out of the file's own buffer: near the size cap, a copy would
    // double what loading holds.
    let range = f.extra.map(|raw| {
        let start = raw.get().as_ptr() as usize - data.as_ptr() as usize;
        start..start + raw.get().len()
    });
    let sources = f.sources;
    let extra = range.and_then(|r| {
        data.truncate(r.end);
        data.drain(..r.start);
        String::from_utf8(data).ok().map(String::into_boxed_str)
    });
    Ok(State { sources, extra })
}

/// Create a new temporary file next to the checkpoint file: an unpredictable name, created
/// exclusively (`O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0600), so that nothing planted in the
/// directory (a symlink to another file) is ever followed or overwritten.
fn create_temp(dir: &Path, name: &std::ffi::OsStr) -> io::Result<(File, PathBuf)> {
    use std::hash::{BuildHasher, Hasher};
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let mut last = None;
    for _ in 0..16 {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        // RandomState is seeded from the OS once per process, then varied per instance.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(seq);
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(
            ".{}.{seq}.{:016x}.tmp",
            std::process::id(),
            h.finish()
        ));
        let tmp = dir.join(tmp_name);
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
        {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

/// Save checkpoints atomically (temp file in the same directory, fsync, rename, fsync directory).
pub fn save(path: &Path, map: &HashMap<String, Vec<Checkpoint>>) -> Result<(), CheckpointError> {
    save_with::<()>(path, map, None)
}

/// [`save`], with `extra` in the same write ([`load_state`] gives it back).
pub fn save_with<E: Serialize>(
    path: &Path,
    map: &HashMap<String, Vec<Checkpoint>>,
    extra: Option<&E>,
) -> Result<(), CheckpointError> {
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |e| CheckpointError::Io { path: p, source: e }
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().ok_or_else(|| CheckpointError::Io {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    let json = serde_json::to_vec(&FileFormatRef {
        version: VERSION,
        sources: map,
        extra,
    })
    .map_err(|e| CheckpointError::Io {
        path: path.to_path_buf(),
        source: io::Error::other(e),
    })?;
    let (mut f, tmp) = create_temp(&dir, name).map_err(io_err(&dir))?;
    if let Err(e) = f.write_all(&json).and_then(|()| f.sync_all()) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(path)(e));
    }
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(&dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Fingerprint;

    #[test]
    fn round_trip() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("checkpoints.json");
        assert!(load(&path).expect("missing is empty").is_empty());
        let mut map = HashMap::new();
        map.insert(
            "nginx".to_string(),
            vec![Checkpoint {
                path: PathBuf::from("/var/log/nginx/access.log"),
                fingerprint: Fingerprint {
                    dev: 2049,
                    ino: 1234,
                    head_len: 256,
                    head_hash: u64::MAX,
                },
                offset: 987_654_321,
            }],
        );
        save(&path, &map).expect("save");
        assert_eq!(load(&path).expect("load"), map);
        // Overwrite works and leaves no temporary file behind.
        map.insert("empty".to_string(), Vec::new());
        save(&path, &map).expect("save again");
        assert_eq!(load(&path).expect("load"), map);
        let names: Vec<_> = fs::read_dir(d.path())
            .expect("readdir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("checkpoints.json")]);
    }

    #[test]
    fn extra_is_saved_in_the_same_write_and_version_1_still_loads() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("checkpoints.json");
        let mut map = HashMap::new();
        map.insert("web".to_string(), Vec::new());
        let extra = serde_json::json!({"c_total": [[["a"], 2.0]]});
        save_with(&path, &map, Some(&extra)).expect("save");
        let st = load_state(&path).expect("load");
        assert_eq!(st.sources, map);
        assert_eq!(st.extra.as_deref(), Some(r#"{"c_total":[[["a"],2.0]]}"#));
        save(&path, &map).expect("save");
        assert_eq!(load_state(&path).expect("load").extra, None);
        fs::write(&path, br#"{"version":1,"sources":{"web":[]}}"#).expect("write");
        let st = load_state(&path).expect("version 1");
        assert_eq!((st.sources, st.extra), (map, None));
    }

    #[test]
    fn a_planted_symlink_at_the_temporary_name_is_never_followed() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let d = tempfile::tempdir().expect("tempdir");
        let victim = d.path().join("victim");
        fs::write(&victim, b"precious").expect("write");
        let path = d.path().join("checkpoints.json");
        // Names a writer of the directory could guess: the pid-based one, and a few more.
        let pid = std::process::id();
        for name in [
            format!(".checkpoints.json.tmp.{pid}"),
            format!(".checkpoints.json.{pid}.0.tmp"),
        ] {
            symlink(&victim, d.path().join(name)).expect("plant symlink");
        }
        let mut map = HashMap::new();
        map.insert("web".to_string(), Vec::new());
        for _ in 0..3 {
            save(&path, &map).expect("save");
        }
        assert_eq!(fs::read(&victim).expect("read"), b"precious");
        assert_eq!(load(&path).expect("load"), map);
        let mode = fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "checkpoints are private to the agent");
        assert!(!fs::symlink_metadata(&path)
            .expect("stat")
            .file_type()
            .is_symlink());
    }

    #[test]
    fn corrupt_file_is_a_typed_error_naming_the_file() {
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("cp.json");
        fs::write(&path, b"{\"version\":1,\"sources\":{\"x\":[{\"path\":").expect("write");
        let err = load(&path).expect_err("corrupt");
        assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains(&path.display().to_string()));
        fs::write(&path, b"{\"version\":7,\"sources\":{}}").expect("write");
        let err = load(&path).expect_err("version");
        assert!(matches!(err, CheckpointError::Version { version: 7, .. }));
    }

    #[test]
    fn only_a_bounded_regular_file_is_read() {
        use std::os::unix::fs::symlink;
        let d = tempfile::tempdir().expect("tempdir");
        let path = d.path().join("checkpoints.json");
        // Through a link, to a device that never ends: refused unread.
        symlink("/dev/zero", &path).expect("symlink");
        let err = load(&path).expect_err("symlink");
        assert!(matches!(err, CheckpointError::NotRegular { .. }), "{err:?}");
        assert!(err.to_string().contains(&path.display().to_string()));
        assert!(err.to_string().contains("symbolic link"), "{err}");
        fs::remove_file(&path).expect("rm");
        // A FIFO nobody writes to: refused at once, not waited on.
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
        // SAFETY: a NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = load(&path).expect_err("fifo");
        assert!(err.to_string().contains("a FIFO"), "{err}");
        fs::remove_file(&path).expect("rm");
        // A directory.
        fs::create_dir(&path).expect("mkdir");
        let err = load(&path).expect_err("dir");
        assert!(err.to_string().contains("a directory"), "{err}");
        fs::remove_dir(&path).expect("rmdir");
        // Larger than the limit (sparse: no disk used): refused unread.
        let f = File::create(&path).expect("create");
        f.set_len(MAX_FILE_BYTES + 1).expect("set_len");
        let err = load(&path).expect_err("too large");
        assert!(matches!(err, CheckpointError::TooLarge { .. }), "{err:?}");
        // At the limit it is read (and here, corrupt).
        f.set_len(MAX_FILE_BYTES).expect("set_len");
        let err = load(&path).expect_err("zeros");
        assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err:?}");
    }
}
