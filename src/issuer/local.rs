//! The embedded CA: a stable booth root and one intermediate per conference slug,
//! kept as PEM files under `<data-dir>/ca/` with keys at mode 0600.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::{Issuer, LeafRequest, Submitted};
use crate::config::Conference;
use crate::error::{Error, Result};
use crate::pki::IssuedCert;
use crate::pki::{self, CertSummary, KeyedCert};

/// Root lifetime in years; the root is never replaced by the program.
pub const ROOT_YEARS: i64 = 20;
/// Intermediate lifetime in years (capped at the root's end).
pub const INTERMEDIATE_YEARS: i64 = 10;

/// Where the CA files live.
#[derive(Debug, Clone)]
pub struct CaPaths {
    dir: PathBuf,
}

impl CaPaths {
    /// `<data-dir>/ca`.
    pub fn new(data_dir: &Path) -> Self {
        CaPaths {
            dir: data_dir.join("ca"),
        }
    }
    fn root(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("root.pem"), self.dir.join("root.key"))
    }
    fn intermediate(&self, slug: &str) -> (PathBuf, PathBuf) {
        let d = self.dir.join("conferences").join(slug);
        (d.join("intermediate.pem"), d.join("intermediate.key"))
    }
}

fn write_new(path: &Path, contents: &[u8]) -> Result<()> {
    // Write to a temp file and rename, so a crash never leaves half a key behind.
    let tmp = path.with_extension("tmp");
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
        _ => {}
    }
    let mut f = crate::files::create_private(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(())
}

fn read_pair(cert: &Path, key: &Path) -> Result<Option<KeyedCert>> {
    match (cert.exists(), key.exists()) {
        (false, false) => Ok(None),
        (true, true) => Ok(Some(KeyedCert {
            cert_pem: fs::read_to_string(cert)?,
            key_pem: fs::read_to_string(key)?.into(),
        })),
        _ => Err(Error::Pki(format!(
            "{} and {} must both exist or both be absent; refusing to replace either",
            cert.display(),
            key.display()
        ))),
    }
}

fn store_pair(cert_path: &Path, key_path: &Path, kc: &KeyedCert) -> Result<()> {
    write_new(key_path, kc.key_pem.as_bytes())?;
    write_new(cert_path, kc.cert_pem.as_bytes())
}

/// Load the root, creating it on first use only.
pub fn load_or_create_root(paths: &CaPaths) -> Result<KeyedCert> {
    let (c, k) = paths.root();
    if let Some(root) = read_pair(&c, &k)? {
        return Ok(root);
    }
    let root = pki::new_root(OffsetDateTime::now_utc(), ROOT_YEARS)?;
    store_pair(&c, &k, &root)?;
    tracing::info!(fingerprint = %CertSummary::parse(&root.cert_pem)?.fingerprint_hex(), "created booth root CA");
    Ok(root)
}

/// Load the root without creating it.
pub fn load_root(paths: &CaPaths) -> Result<Option<KeyedCert>> {
    let (c, k) = paths.root();
    read_pair(&c, &k)
}

/// Load only the root certificate (PEM), for backends that never sign with the root key.
pub fn load_root_cert(paths: &CaPaths) -> Result<Option<String>> {
    let (c, _) = paths.root();
    match fs::read_to_string(&c) {
        Ok(pem) => Ok(Some(pem)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every conference intermediate certificate (PEM) in the data dir, by slug.
pub fn load_intermediate_certs(paths: &CaPaths) -> Result<Vec<String>> {
    let dir = paths.dir.join("conferences");
    let mut slugs: Vec<_> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    slugs.sort();
    let mut out = Vec::new();
    for slug in slugs {
        match fs::read_to_string(dir.join(slug).join("intermediate.pem")) {
            Ok(pem) => out.push(pem),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// Every conference intermediate this data dir holds with its key, by slug (what signs
/// each conference's CRL).
pub fn load_intermediates_with_keys(paths: &CaPaths) -> Result<Vec<(String, KeyedCert)>> {
    let dir = paths.dir.join("conferences");
    let mut slugs: Vec<String> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<_>>()?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    slugs.sort();
    let mut out = Vec::new();
    for slug in slugs.into_iter().filter(|s| crate::config::check_slug(s).is_ok()) {
        if let Some(pair) = load_intermediate(paths, &slug)? {
            out.push((slug, pair));
        }
    }
    Ok(out)
}

/// One conference's intermediate with its key, if this data dir has it (never created here).
pub fn load_intermediate(paths: &CaPaths, slug: &str) -> Result<Option<KeyedCert>> {
    crate::config::check_slug(slug).map_err(|_| Error::NotFound)?;
    let (c, k) = paths.intermediate(slug);
    read_pair(&c, &k)
}

/// Load the conference intermediate, creating it under `root` on first use of the slug.
pub fn load_or_create_intermediate(paths: &CaPaths, root: &KeyedCert, conf: &Conference) -> Result<KeyedCert> {
    let (c, k) = paths.intermediate(&conf.slug);
    if let Some(int) = read_pair(&c, &k)? {
        return Ok(int);
    }
    let int = pki::new_intermediate(
        root,
        &conf.name,
        &conf.slug,
        &conf.city,
        OffsetDateTime::now_utc(),
        INTERMEDIATE_YEARS,
    )?;
    store_pair(&c, &k, &int)?;
    tracing::info!(slug = %conf.slug, fingerprint = %CertSummary::parse(&int.cert_pem)?.fingerprint_hex(), "created conference intermediate CA");
    Ok(int)
}

/// The local issuer: signs on the spot with the conference intermediate.
pub struct LocalIssuer {
    paths: CaPaths,
    slug: String,
    root: KeyedCert,
    intermediate: KeyedCert,
    /// The intermediate, parsed once for signing.
    signer: pki::CaSigner,
    intermediate_not_after: OffsetDateTime,
    leaf_validity: Duration,
}

impl LocalIssuer {
    /// Open (or create) the CA in `data_dir` for `conf`.
    pub fn open(data_dir: &Path, conf: &Conference) -> Result<Self> {
        let paths = CaPaths::new(data_dir);
        let root = load_or_create_root(&paths)?;
        let intermediate = load_or_create_intermediate(&paths, &root, conf)?;
        let intermediate_not_after = CertSummary::parse(&intermediate.cert_pem)?.not_after;
        Ok(LocalIssuer {
            paths,
            slug: conf.slug.clone(),
            signer: pki::CaSigner::new(&intermediate)?,
            root,
            intermediate,
            intermediate_not_after,
            leaf_validity: Duration::days(i64::from(conf.leaf_validity_days)),
        })
    }

    /// Open a CA that must already be there: kiosks sharing one database share one CA
    /// (the same `ca/` files mounted into each, e.g. from one Secret), so a missing file
    /// is an error here, never a reason to make a second root or intermediate.
    pub fn open_shared(data_dir: &Path, conf: &Conference) -> Result<Self> {
        let paths = CaPaths::new(data_dir);
        let (root, root_key) = paths.root();
        let (intermediate, intermediate_key) = paths.intermediate(&conf.slug);
        for file in [root, root_key, intermediate, intermediate_key] {
            if !file.is_file() {
                return Err(Error::Invalid(format!(
                    "{} is missing. Kiosks that share a PostgreSQL database share one CA: run \
                     `certstamp ca init` once and mount the same ca/ files into every kiosk \
                     (or use the cert-manager issuer); a kiosk does not create its own CA",
                    file.display()
                )));
            }
        }
        Self::open(data_dir, conf)
    }

    /// Sign a visitor leaf synchronously (pure CPU work).
    pub fn sign(&self, req: &LeafRequest) -> Result<IssuedCert> {
        let now = OffsetDateTime::now_utc();
        self.sign_params(pki::leaf_params(
            &req.name,
            &req.email,
            now,
            self.leaf_validity,
            self.intermediate_not_after,
        )?)
    }

    fn sign_params(&self, params: rcgen::CertificateParams) -> Result<IssuedCert> {
        Ok(IssuedCert {
            leaf: self.signer.sign_with_new_key(&params)?,
            intermediates_pem: self.intermediate.cert_pem.clone(),
            root_pem: self.root.cert_pem.clone(),
        })
    }
}

#[async_trait]
impl Issuer for LocalIssuer {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn signs_on_the_spot(&self) -> bool {
        true
    }

    async fn submit(&self, req: &LeafRequest) -> Result<Submitted> {
        Ok(Submitted::Issued(self.sign(req)?))
    }

    fn root_pem(&self) -> String {
        self.root.cert_pem.clone()
    }

    fn intermediate_pem(&self) -> String {
        self.intermediate.cert_pem.clone()
    }

    fn crl_signer(&self, slug: &str) -> Result<Option<KeyedCert>> {
        if slug == self.slug {
            return Ok(Some(self.intermediate.clone()));
        }
        // An earlier conference on this data dir: its intermediate, if it ever had one.
        load_intermediate(&self.paths, slug)
    }

    async fn server_cert(&self, hostname: &str) -> Result<IssuedCert> {
        let now = OffsetDateTime::now_utc();
        self.sign_params(pki::server_params(
            hostname,
            now,
            Duration::days(90),
            self.intermediate_not_after,
        )?)
    }
}

#[cfg(test)]
mod shared_ca_tests {
    use super::*;

    #[test]
    fn a_shared_ca_is_opened_never_made() {
        let dir = tempfile::tempdir().unwrap();
        let today = OffsetDateTime::now_utc().date();
        let conf = Conference {
            name: "C".into(),
            slug: "c".into(),
            city: "X".into(),
            start: today,
            end: today,
            leaf_validity_days: 1,
            retention_days: 1,
        };
        let err = LocalIssuer::open_shared(dir.path(), &conf).err().unwrap().to_string();
        assert!(err.contains("does not create its own CA"), "{err}");
        assert!(!dir.path().join("ca").exists(), "nothing was created");
        let made = LocalIssuer::open(dir.path(), &conf).unwrap();
        let shared = LocalIssuer::open_shared(dir.path(), &conf).unwrap();
        assert_eq!(made.root_pem(), shared.root_pem());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn conf(slug: &str) -> Conference {
        let today = OffsetDateTime::now_utc().date();
        Conference {
            name: "Test".into(),
            slug: slug.into(),
            city: "Paris".into(),
            start: today,
            end: today,
            leaf_validity_days: 30,
            retention_days: 30,
        }
    }

    #[test]
    fn root_is_stable_and_intermediates_are_per_slug() {
        let dir = tempfile::tempdir().unwrap();
        let a = LocalIssuer::open(dir.path(), &conf("a")).unwrap();
        let a2 = LocalIssuer::open(dir.path(), &conf("a")).unwrap();
        let b = LocalIssuer::open(dir.path(), &conf("b")).unwrap();
        assert_eq!(a.root_pem(), a2.root_pem());
        assert_eq!(a.root_pem(), b.root_pem());
        assert_eq!(a.intermediate_pem(), a2.intermediate_pem());
        assert_ne!(a.intermediate_pem(), b.intermediate_pem());
        let mode = fs::metadata(dir.path().join("ca/root.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mode = fs::metadata(dir.path().join("ca/conferences/b/intermediate.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let issued = b
            .sign(&LeafRequest {
                visitor_id: "v".into(),
                name: "N".into(),
                email: "n@x.io".into(),
            })
            .unwrap();
        pki::verify_chain(&issued.chain_pem(), &a.root_pem(), OffsetDateTime::now_utc()).unwrap();
    }

    #[test]
    fn half_a_root_is_an_error_not_a_replacement() {
        let dir = tempfile::tempdir().unwrap();
        LocalIssuer::open(dir.path(), &conf("a")).unwrap();
        fs::remove_file(dir.path().join("ca/root.key")).unwrap();
        assert!(LocalIssuer::open(dir.path(), &conf("a")).is_err());
        assert!(dir.path().join("ca/root.pem").exists());
    }
}
