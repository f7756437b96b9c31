//! Reads whole the files a run depends on (provider files, secrets files, task files, the
//! configs cache), refusing what cannot be one: a FIFO, a device, a directory, or a file far
//! larger than any such file is.
//!
//! Why not `fs::read`: a provider file that is a symlink to `/dev/zero` (or a disk image put in
//! the wrong folder) is read until the watchdog fires or memory runs out, whichever comes
//! first (on this 24 GiB machine: the watchdog's error after 66 s; with less
//! memory the process is killed with no reply at all); a FIFO blocks the run until the
//! watchdog fires. Both become an ordinary error here, at once, before anything is read.
//!
//! The files this program writes itself (task files, the configs cache) are read with
//! [`read_state_bytes`], which never follows a symlink: the store trusts only what it wrote.

use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Cap for the files people write: provider files and secrets files. Real ones are a few KiB;
/// the cap only has to stop a wrong file, so it is far above any plausible one.
pub const WRITTEN_FILE_CAP: u64 = 64 << 20;

/// Cap for the files this program writes: task files and the configs cache. They hold values
/// taken from hoster answers, each at most `api.max_response_bytes` (256 MiB at most), so the
/// cap is above that: a task this program wrote is never refused (it may be a bought server).
pub const STATE_FILE_CAP: u64 = 1 << 30;

/// The bytes of the regular file at `path`, at most `cap` of them. Errors are `io::Error`s
/// (`NotFound` stays `NotFound`), so callers word them as they do any other read error.
pub fn read_bytes(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. It changes
    // nothing for a regular file.
    read_opened(path, cap, libc::O_NONBLOCK)
}

/// [`read_bytes`] for a file of the task store: a symlink at `path` is refused, not followed
/// (a symlink there was not made by this program: it may point at a forged task).
pub fn read_state_bytes(path: &Path, cap: u64) -> io::Result<Vec<u8>> {
    read_opened(path, cap, libc::O_NONBLOCK | libc::O_NOFOLLOW).map_err(|err| {
        if err.raw_os_error() == Some(libc::ELOOP) {
            io::Error::other(SYMLINK_REFUSED)
        } else {
            err
        }
    })
}

/// What a store file that is a symlink is told (open with O_NOFOLLOW fails with ELOOP).
pub const SYMLINK_REFUSED: &str = "it is a symbolic link, which vps-provider never writes and does not follow: remove the link (and check who made it)";

fn read_opened(path: &Path, cap: u64, flags: libc::c_int) -> io::Result<Vec<u8>> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)?;
    let metadata = file.metadata()?;
    let kind = metadata.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a file of another kind"
        };
        return Err(io::Error::other(format!(
            "it is {what}, not a regular file: put the file itself at this path"
        )));
    }
    let too_large = || {
        io::Error::other(format!(
            "it is larger than {} MiB, which no such file is: check that the path names the right file",
            cap >> 20
        ))
    };
    if metadata.len() > cap {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // The file may grow while it is read; never read past the cap.
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read_bytes`] as UTF-8 text; other bytes are `InvalidData`, as with `fs::read_to_string`.
pub fn read_text(path: &Path, cap: u64) -> io::Result<String> {
    String::from_utf8(read_bytes(path, cap)?).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, "0123456789").unwrap();
        assert_eq!(read_text(&path, 10).unwrap(), "0123456789");
        let err = read_text(&path, 9).unwrap_err().to_string();
        assert!(err.contains("larger than"), "{err}");
    }

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let err = read_bytes(&fifo, WRITTEN_FILE_CAP).unwrap_err().to_string();
        assert!(err.contains("a FIFO"), "{err}");
        let err = read_bytes(Path::new("/dev/zero"), WRITTEN_FILE_CAP)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a device"), "{err}");
        let err = read_bytes(dir.path(), WRITTEN_FILE_CAP)
            .unwrap_err()
            .to_string();
        assert!(err.contains("a directory"), "{err}");
        let missing = read_bytes(&dir.path().join("missing"), 1).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn state_files_are_never_followed_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::write(&real, "forged").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(
            read_bytes(&link, 10).unwrap(),
            b"forged",
            "provider files may be links"
        );
        let err = read_state_bytes(&link, 10).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(read_state_bytes(&real, 10).unwrap(), b"forged");
    }

    #[test]
    fn text_must_be_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"a\xff").unwrap();
        let err = read_text(&path, 10).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("UTF-8"));
    }
}
