//! Writing the site into its directory. A directory already holding an archive (it has
//! [`MARKER`]) is refreshed in place: what an earlier run wrote is replaced, anything
//! else (a `.git` of a Pages repository, a `CNAME`) stays.

use std::fs;
use std::path::Path;

use super::site::File;
use crate::error::{Error, Result};

/// Marks a directory as written by `certstamp archive`.
pub const MARKER: &str = ".certstamp-archive";

/// Top-level names an archive writes: removed before a refresh so nothing stale stays.
const OWNED: &[&str] = &[
    "c",
    "ca",
    "assets",
    "guestbook",
    "wall",
    "index.html",
    "404.html",
    "guestbook.json",
    "guestbook.txt",
    ".nojekyll",
];

fn refuse(out: &Path) -> Error {
    Error::Invalid(format!(
        "{} is not empty and not an earlier certstamp archive; choose a new or empty directory",
        out.display()
    ))
}

/// Check that `out` may receive the site, and clear what an earlier run left there.
fn prepare(out: &Path) -> Result<()> {
    let entries = match fs::read_dir(out) {
        Ok(e) => e.collect::<std::io::Result<Vec<_>>>()?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(fs::create_dir_all(out)?),
        Err(e) => return Err(e.into()),
    };
    let names: Vec<String> = entries
        .iter()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // A fresh Pages checkout (.git, CNAME, a README) is fine; anything else needs the marker.
    let foreign = names
        .iter()
        .any(|n| !n.starts_with('.') && n != "CNAME" && !n.eq_ignore_ascii_case("README.md"));
    if foreign && !names.iter().any(|n| n == MARKER) {
        return Err(refuse(out));
    }
    for name in OWNED {
        let p = out.join(name);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&p)?,
            Ok(_) => fs::remove_file(&p)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Write `files` under `out`; returns the bytes written.
pub fn write(out: &Path, files: &[File]) -> Result<u64> {
    prepare(out)?;
    fs::write(
        out.join(MARKER),
        "Written by `certstamp archive`; running it again replaces what it wrote here.\n",
    )?;
    let mut bytes = 0;
    for f in files {
        let path = out.join(&f.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, &f.bytes)?;
        bytes += f.bytes.len() as u64;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> File {
        File {
            path: path.into(),
            bytes: b"x".to_vec(),
        }
    }

    #[test]
    fn refreshes_its_own_directory_and_refuses_others() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("site");
        write(&out, &[file("c/a.json"), file("index.html")]).unwrap();
        fs::write(out.join("CNAME"), "booth.example.org\n").unwrap();
        write(&out, &[file("c/b.json"), file("index.html")]).unwrap();
        assert!(!out.join("c/a.json").exists(), "stale documents go");
        assert!(out.join("c/b.json").exists() && out.join("CNAME").exists());

        let home = dir.path().join("home");
        fs::create_dir_all(home.join(".git")).unwrap();
        write(&home, &[file("index.html")]).unwrap();
        let busy = dir.path().join("busy");
        fs::create_dir_all(&busy).unwrap();
        fs::write(busy.join("notes.txt"), "mine").unwrap();
        let err = write(&busy, &[file("index.html")]).unwrap_err();
        assert!(err.to_string().contains("not an earlier certstamp archive"), "{err}");
        assert_eq!(fs::read_to_string(busy.join("notes.txt")).unwrap(), "mine");
    }
}
