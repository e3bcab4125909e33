//! The archive's pages: one askama struct per template in `templates/archive/`, on the
//! kiosk's shared `base.html`.

use askama::Template;

use crate::clock::human_time;
use crate::guestbook::EntryView;
use crate::pki::CertSummary;

/// What `base.html` needs.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Conference name in the header and title.
    pub conference: String,
    /// Cache-busting version of the static assets.
    pub assets: &'static str,
}

/// A CA certificate as the front page lists it, with where its files are.
#[derive(Debug, Clone)]
pub struct CaView {
    /// Subject DN.
    pub subject: String,
    /// SHA-256, colon hex.
    pub fingerprint: String,
    /// Start of validity.
    pub not_before: String,
    /// End of validity.
    pub not_after: String,
    /// Site path without extension, e.g. `ca/root`.
    pub path: String,
    /// File name without extension, e.g. `root`.
    pub file: String,
}

impl CaView {
    /// Describe `s`, published at `path` (`.pem` and `.der`).
    pub fn new(s: &CertSummary, path: &str) -> Self {
        CaView {
            subject: s.subject.clone(),
            fingerprint: s.fingerprint_hex(),
            not_before: human_time(s.not_before),
            not_after: human_time(s.not_after),
            path: path.to_string(),
            file: path.rsplit('/').next().unwrap_or(path).to_string(),
        }
    }
}

/// One conference: its intermediate and how many certificates it issued.
#[derive(Debug, Clone)]
pub struct ConferenceView {
    /// "KubeCon EU, Amsterdam (kc-eu)".
    pub title: String,
    /// Its intermediate.
    pub cert: CaView,
    /// Certificates issued and not voided.
    pub issued: usize,
    /// Its CRL's site path without extension, and how many it lists.
    pub crl: Option<(String, usize)>,
}

/// `templates/archive/index.html`: the root, the conferences, how to verify.
#[derive(Template)]
#[template(path = "archive/index.html")]
pub struct IndexPage {
    /// Chrome.
    pub layout: Layout,
    /// When the archive was written.
    pub archived_on: String,
    /// The booth root.
    pub root: CaView,
    /// Every conference intermediate.
    pub conferences: Vec<ConferenceView>,
    /// "12 entries".
    pub entries: String,
}

/// `templates/archive/certificate.html`, published as `404.html`: static hosts serve it
/// for `/c/{token}`, and `assets/verify.js` turns it into that certificate's page.
#[derive(Template)]
#[template(path = "archive/certificate.html")]
pub struct CertificatePage {
    /// Chrome.
    pub layout: Layout,
    /// The pinned booth root, colon hex.
    pub root_fingerprint: String,
}

/// `templates/archive/guestbook.html`: one page of entries.
#[derive(Template)]
#[template(path = "archive/guestbook.html")]
pub struct GuestbookPage {
    /// Chrome.
    pub layout: Layout,
    /// This page's entries, newest first.
    pub entries: Vec<EntryView>,
    /// 1-based page number.
    pub page: usize,
    /// Number of pages.
    pub pages: usize,
    /// "12 entries".
    pub total: String,
}

/// One seal on the wall.
#[derive(Debug, Clone)]
pub struct SealView {
    /// Inline SVG from the printer crate.
    pub svg: String,
    /// When the certificate was issued.
    pub when: String,
}

/// `templates/archive/wall.html`: the counts and the latest seals.
#[derive(Template)]
#[template(path = "archive/wall.html")]
pub struct WallPage {
    /// Chrome.
    pub layout: Layout,
    /// Per-conference counts.
    pub conferences: Vec<ConferenceView>,
    /// Tickets printed.
    pub printed: u64,
    /// The latest seals.
    pub seals: Vec<SealView>,
}
