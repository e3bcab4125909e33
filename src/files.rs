//! The data dir holds keys and visitors' details, so everything in it is private whatever
//! the umask: directories 0700, files 0600.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Create `dir` (and missing parents) as 0700, and tighten it to 0700 if it exists.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let mode = fs::metadata(dir)?.permissions().mode() & 0o777;
    if mode != 0o700 {
        tighten(dir, 0o700)?;
        if mode & 0o077 != 0 {
            tracing::info!(dir = %dir.display(), "made the directory private (0700)");
        }
    }
    Ok(())
}

/// Set `mode`; a directory someone else owns (a mounted volume, say, owned by root with a
/// group the kiosk runs in) cannot be changed by us: say so and go on.
fn tighten(path: &Path, mode: u32) -> io::Result<()> {
    match fs::set_permissions(path, Permissions::from_mode(mode)) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            tracing::warn!(path = %path.display(), "cannot make this private (not its owner); its owner should");
            Ok(())
        }
        done => done,
    }
}

/// Create a new file as 0600 (failing if it exists); its parent is made private first.
pub fn create_private(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        private_dir(parent)?;
    }
    let f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    // The umask may have taken bits away, never added: set exactly 0600.
    f.set_permissions(Permissions::from_mode(0o600))?;
    Ok(f)
}

/// Tighten an existing file to 0600; a missing file is fine.
pub fn make_private(path: &Path) -> io::Result<()> {
    match fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o777 != 0o600 => tighten(path, 0o600),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Make everything under `dir` private: directories 0700, files 0600 (symlinks are left
/// alone). For data dirs written by older versions or under a looser umask.
pub fn tighten_tree(dir: &Path) -> io::Result<()> {
    private_dir(dir)?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            tighten_tree(&entry.path())?;
        } else if kind.is_file() {
            make_private(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn directories_and_files_end_up_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        private_dir(&dir).unwrap();
        assert_eq!((mode(&tmp.path().join("a")), mode(&dir)), (0o700, 0o700));
        fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("c/key");
        create_private(&file).unwrap().write_all(b"k").unwrap();
        assert_eq!((mode(&dir.join("c")), mode(&file)), (0o700, 0o600));
        assert!(create_private(&file).is_err(), "never overwrites");
        fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        make_private(&file).unwrap();
        assert_eq!(mode(&file), 0o600);
        make_private(&dir.join("missing")).unwrap();
        fs::set_permissions(&file, Permissions::from_mode(0o644)).unwrap();
        fs::set_permissions(dir.join("c"), Permissions::from_mode(0o755)).unwrap();
        tighten_tree(tmp.path()).unwrap();
        assert_eq!((mode(&dir.join("c")), mode(&file)), (0o700, 0o600));
    }
}
