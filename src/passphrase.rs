//! The staff passphrase: its rules, its argon2id hash (a PHC string) and the file that
//! keeps it (`<data-dir>/staff-password-hash`, mode 0600). The passphrase itself is never
//! stored, logged or taken from the command line, where `ps` would show it.

use std::path::{Path, PathBuf};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{ARGON2ID_IDENT, Argon2};

use crate::error::{Error, Result};

/// Shortest passphrase accepted, in characters.
pub const MIN_CHARS: usize = 12;

/// The file in the data dir that holds the hash.
pub fn hash_file(data_dir: &Path) -> PathBuf {
    data_dir.join("staff-password-hash")
}

/// How to set a passphrase, for messages.
pub fn how_to_set(data_dir: &Path) -> String {
    format!(
        "run `certstamp staff set-password --data-dir {}` (it reads the passphrase from standard input), \
         or set CERTSTAMP_STAFF_PASSWORD_HASH to the output of `certstamp staff hash-password`",
        data_dir.display()
    )
}

/// Check a new passphrase against the rules.
pub fn check_new(passphrase: &str) -> Result<()> {
    if passphrase.trim().is_empty() {
        return Err(Error::Invalid("The staff passphrase is empty.".into()));
    }
    let n = passphrase.chars().count();
    if n < MIN_CHARS {
        return Err(Error::Invalid(format!(
            "The staff passphrase has {n} characters; it needs at least {MIN_CHARS}."
        )));
    }
    if passphrase.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "The staff passphrase contains control characters.".into(),
        ));
    }
    Ok(())
}

/// A checked argon2id PHC string (`$argon2id$v=19$m=...`).
#[derive(Clone, PartialEq, Eq)]
pub struct PassphraseHash(String);

impl std::fmt::Debug for PassphraseHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassphraseHash(<redacted>)")
    }
}

impl PassphraseHash {
    /// Hash a new passphrase (after [`check_new`]) with argon2id and a random salt.
    pub fn new(passphrase: &str) -> Result<Self> {
        check_new(passphrase)?;
        let hash = Argon2::default()
            .hash_password(passphrase.as_bytes())
            .map_err(|e| Error::Internal(format!("argon2: {e}")))?;
        Ok(PassphraseHash(hash.to_string()))
    }

    /// Accept a stored or configured hash only when it is an argon2id PHC string.
    pub fn parse(s: &str, origin: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::Invalid(format!("{origin} is empty")));
        }
        match PasswordHash::new(s) {
            Ok(h) if h.algorithm == ARGON2ID_IDENT && h.hash.is_some() => Ok(PassphraseHash(s.to_string())),
            _ => Err(Error::Invalid(format!(
                "{origin} is not an argon2id hash (a string starting with $argon2id$)"
            ))),
        }
    }

    /// Whether `passphrase` matches. Costs an argon2 evaluation: call it off the async workers.
    pub fn verify(&self, passphrase: &str) -> bool {
        Argon2::default()
            .verify_password(passphrase.as_bytes(), self.0.as_str())
            .is_ok()
    }

    /// The PHC string, for the hash file or `CERTSTAMP_STAFF_PASSWORD_HASH`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A short digest that changes when the passphrase does (sessions remember it, so
    /// changing the passphrase logs everyone out).
    pub fn generation(&self) -> [u8; 8] {
        let d = ring::digest::digest(&ring::digest::SHA256, self.0.as_bytes());
        let mut out = [0u8; 8];
        out.copy_from_slice(&d.as_ref()[..8]);
        out
    }
}

/// Read the hash file: `None` when there is none, an error when it is there but unusable.
pub fn load(data_dir: &Path) -> Result<Option<PassphraseHash>> {
    let path = hash_file(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(s) => PassphraseHash::parse(&s, &path.display().to_string()).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Write the hash file (mode 0600, replaced atomically).
pub fn store(data_dir: &Path, hash: &PassphraseHash) -> Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(data_dir)?;
    let path = hash_file(data_dir);
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    writeln!(f, "{}", hash.as_str())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn rules_for_new_passphrases() {
        assert!(check_new("").is_err());
        assert!(check_new("            ").is_err());
        assert!(check_new("eleven char").is_err());
        assert!(check_new("twelve chars").is_ok());
        // Characters, not bytes: twelve of them in any script.
        assert!(check_new("пароль-пароль").is_ok());
        assert!(check_new("ключ🔑ключ").is_err());
        assert!(check_new("twelve\nchars!").is_err());
    }

    #[test]
    fn hash_verify_store_load() {
        let h = PassphraseHash::new("correct horse battery").unwrap();
        assert!(h.as_str().starts_with("$argon2id$"));
        assert!(h.verify("correct horse battery"));
        assert!(!h.verify("correct horse battery "));
        assert!(!format!("{h:?}").contains("argon2id"));
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let path = store(dir.path(), &h).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load(dir.path()).unwrap(), Some(h.clone()));
        assert_ne!(
            PassphraseHash::new("correct horse battery").unwrap().generation(),
            h.generation()
        );
    }

    #[test]
    fn only_argon2id_hashes_are_accepted() {
        assert!(PassphraseHash::parse("", "x").is_err());
        assert!(PassphraseHash::parse("hunter2hunter2", "x").is_err());
        let argon2i = "$argon2i$v=19$m=16,t=2,p=1$c29tZXNhbHQ$Y3Vyc2VkIHJ1c3Q";
        assert!(PassphraseHash::parse(argon2i, "x").is_err());
        let h = PassphraseHash::new("correct horse battery").unwrap();
        assert_eq!(PassphraseHash::parse(&format!(" {}\n", h.as_str()), "x").unwrap(), h);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(hash_file(dir.path()), "\n").unwrap();
        assert!(load(dir.path()).unwrap_err().to_string().contains("empty"));
    }
}
