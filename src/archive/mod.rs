//! `certstamp archive`: after the event, the booth's public side as a static site that
//! any host can serve (GitHub Pages, a bucket, nginx), so printed QR codes keep working.
//!
//! Read from the data dir alone: the booth root and conference CAs, one encrypted
//! document per issued certificate ([`doc`]), the guestbook, the wall's counts and seals,
//! and `404.html`, which static hosts serve for `/c/{token}` and which `assets/verify.js`
//! turns into that certificate's page. No email, key, token or staff data goes in.
//!
//! The voided state comes from the database (`voided_at`, in each document), and each
//! conference whose intermediate key is in the data dir (local mode) also gets its CRL at
//! `crl/{slug}.crl` and `.pem`, the kiosk's own addresses, valid until the intermediate
//! ends (the list will not change again).

use std::path::PathBuf;

use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::issuer::local::{self, CaPaths};
use crate::store::Store;

/// Naming and encrypting per-certificate documents.
pub mod doc;
/// Writing the site into its directory.
pub mod output;
/// The pages' askama structs.
pub mod pages;
/// Building every file in memory.
pub mod site;

/// What `certstamp archive` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The kiosk's data dir.
    pub data_dir: PathBuf,
    /// The kiosk's database (URL or SQLite path); `None`: `<data-dir>/certstamp.db`.
    pub database: Option<String>,
    /// Where the site goes.
    pub out: PathBuf,
    /// Archive even though some visitors' emails or keys are still kept.
    pub before_retention: bool,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Counts and the root fingerprint.
    pub built: site::Built,
    /// Bytes written.
    pub bytes: u64,
    /// Visitors whose email or key the database still held (only with `--before-retention`).
    pub unpurged: u64,
}

fn not_purged_yet(count: u64, until: Option<i64>, now: OffsetDateTime) -> Error {
    let date = until
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .map(|t| t.date().to_string())
        .unwrap_or_default();
    let when = if until.is_some_and(|t| t <= now.unix_timestamp()) {
        format!("retention ended on {date}, but the kiosk has not purged since: start it once (it purges at start)")
    } else {
        format!("retention ends on {date}; archive after the kiosk has purged them")
    };
    Error::Invalid(format!(
        "{count} visitor(s) still have their email or private key in the database: {when}, \
         or pass --before-retention to archive now (the site holds no email or key either way)"
    ))
}

/// Build the site from `opts.data_dir` and write it to `opts.out`.
pub async fn run(opts: &Options, now: OffsetDateTime) -> Result<Summary> {
    let db = opts
        .database
        .clone()
        .unwrap_or_else(|| opts.data_dir.join("certstamp.db").display().to_string());
    if !crate::store::postgres::is_url(&db) && !std::path::Path::new(&db).is_file() {
        return Err(Error::Invalid(format!(
            "no kiosk database at {db}; pass the kiosk's --data-dir or --database"
        )));
    }
    let store = Store::connect(&db).await?;
    let unpurged = store.unpurged().await?;
    if unpurged.count > 0 && !opts.before_retention {
        return Err(not_purged_yet(unpurged.count, unpurged.until, now));
    }
    let paths = CaPaths::new(&opts.data_dir);
    let certificates = store.issued_certificates().await?;
    let root_pem = match local::load_root_cert(&paths)? {
        Some(pem) => pem,
        None => certificates.first().map(|c| c.root_pem.clone()).ok_or_else(|| {
            Error::Invalid(format!(
                "no booth root in {} and no issued certificate to take it from",
                opts.data_dir.join("ca").display()
            ))
        })?,
    };
    let (entries, _) = store.entries_page(u32::MAX, 0).await?;
    let mut crls = Vec::new();
    for (slug, signer) in local::load_intermediates_with_keys(&paths)? {
        let until = crate::pki::CertSummary::parse(&signer.cert_pem)?.not_after;
        let revoked = store.revoked(&slug).await?;
        let crl = crate::revocation::build(&signer, &revoked, now, until, crate::revocation::clock_number(now))?;
        crls.push(site::ArchivedCrl {
            issuer_der: crate::pki::pem_certs(&signer.cert_pem)?.remove(0),
            revoked: revoked.len(),
            crl,
        });
    }
    let input = site::Input {
        root_pem,
        intermediates_pem: local::load_intermediate_certs(&paths)?,
        certificates,
        entries,
        crls,
        printed: store.printed_count().await?,
        now,
    };
    let built = site::build(&input)?;
    let bytes = output::write(&opts.out, &built.files)?;
    Ok(Summary {
        built,
        bytes,
        unpurged: unpurged.count,
    })
}
