//! Opening a small file the agent is handed (a config on reload, its checkpoints, a tenant
//! map): a regular file only, opened without waiting (a FIFO put in its place would hold
//! open(2) until a writer came, and with it a reload or the start-up), and checked on the
//! opened descriptor, so that nothing can be swapped in between a check and the open.

use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Why [`open`] gave no file.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// open(2) or fstat(2) failed (`NotFound` included).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Something else than a regular file is there: what it is.
    #[error("not a regular file ({0})")]
    NotRegular(&'static str),
}

/// Open `path` for reading without waiting, and only if it is a regular file (a symbolic
/// link to one only if `follow_symlinks`).
pub fn open(path: &Path, follow_symlinks: bool) -> Result<(File, Metadata), OpenError> {
    let mut flags = libc::O_NONBLOCK | libc::O_NOCTTY;
    if !follow_symlinks {
        flags |= libc::O_NOFOLLOW;
    }
    let file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(f) => f,
        Err(e) if !follow_symlinks && e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(OpenError::NotRegular("a symbolic link"))
        }
        Err(e) => return Err(e.into()),
    };
    let md = file.metadata()?;
    if !md.is_file() {
        return Err(OpenError::NotRegular(kind(md.file_type())));
    }
    Ok((file, md))
}

/// What a file type is, in a message.
fn kind(ft: FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "a device"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_opened_and_never_wait() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let fifo = dir.path().join("p");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(open(&file, false).is_ok());
        assert!(open(&link, true).is_ok());
        let what = |p: &Path, follow| match open(p, follow) {
            Err(OpenError::NotRegular(w)) => w,
            other => panic!("{p:?}: {other:?}"),
        };
        assert_eq!(what(&link, false), "a symbolic link");
        assert_eq!(what(&fifo, true), "a FIFO");
        assert_eq!(what(dir.path(), true), "a directory");
        assert_eq!(what(Path::new("/dev/null"), true), "a device");
        assert!(matches!(
            open(&dir.path().join("missing"), true),
            Err(OpenError::Io(e)) if e.kind() == io::ErrorKind::NotFound
        ));
    }
}
