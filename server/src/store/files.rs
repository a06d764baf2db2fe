//! The database file on disk: created owner-only (0600) before SQLite opens it.
//!
//! SQLite creates a missing file 0644 (less the umask), and gives its `-wal` and
//! `-shm` files the mode of the database file. Creating the database file 0600
//! first makes all three owner-only; an existing file keeps its mode, with a
//! warning when others may read it.

use std::path::Path;

/// Creates `path` empty with mode 0600 when it does not exist (an empty file is
/// an empty SQLite database). Warns when an existing file is readable by others.
pub(super) fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        // An existing file (on a read-only filesystem the error may not say
        // "exists"): SQLite opens it, and the write probe judges it.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists || path.exists() => {
            warn_if_shared(path);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the database file is readable by other users; its -wal and -shm files take the same mode (chmod 600 it)"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_: &Path) {}
