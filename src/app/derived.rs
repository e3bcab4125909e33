//! What a certificate page and its downloads derive from a visitor row, computed once
//! and kept in bounded in-memory caches: none of it changes after issuance, and a rush
//! of phones opening the same links would otherwise redo the same work per request.
//!
//! Nothing here is written anywhere. The QR codes encode the link (the token), and a
//! zip holds the private key in clear, so they live only in memory, few and briefly:
//! storing the zip sealed in the database was the alternative, but its PKCS#12
//! password comes from the token, so cert-manager visitors (issued in the background,
//! without the token) could not have one built at issuance anyway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use zeroize::Zeroizing;

use super::App;
use crate::cache::TtlCache;
use crate::clock::human_time;
use crate::error::Result;
use crate::pki::{CertSummary, pem_certs};
use crate::qr;
use crate::store::visitors::Visitor;
use crate::token::Token;

/// Pages of this many recent visitors stay rendered-ready (about 12 KiB each).
const PAGES: usize = 512;
/// How long page parts and QR images stay.
const PAGE_TTL: Duration = Duration::from_secs(15 * 60);
/// Zips kept (about 6 KiB each), and how briefly: long enough for a retry or a second
/// device, short enough that a private key in clear does not linger.
const ZIPS: usize = 128;
const ZIP_TTL: Duration = Duration::from_secs(5 * 60);

/// The caches, keyed by visitor id (one token per visitor, so one link per key).
pub(super) struct Derived {
    pages: TtlCache<String, CertParts>,
    pngs: TtlCache<String, Vec<u8>>,
    zips: TtlCache<String, Zeroizing<Vec<u8>>>,
    /// Seals by fingerprint (public; drawn on the wall for the newest two dozen).
    seals: TtlCache<[u8; 32], String>,
    /// Public screens rendered once for every viewer (see [`App::shared_render`]).
    shared: Mutex<HashMap<&'static str, Rendered>>,
    /// One render at a time, so a rush of viewers after a change renders once.
    rendering: tokio::sync::Mutex<()>,
    /// Zips and PKCS#12 files built at once: one per core.
    builders: tokio::sync::Semaphore,
    /// The kiosk's root as certificate pages pin it (it is fixed for the process).
    root_pin: std::sync::OnceLock<Option<RootPin>>,
}

/// The booth root as the certificate page's in-browser check pins it.
pub struct RootPin {
    /// DER, base64.
    pub b64: Arc<str>,
    /// SHA-256 of the DER, colon hex.
    pub fingerprint: Arc<str>,
}

/// A shared render and what it was made from.
struct Rendered {
    changes: u64,
    at: Instant,
    body: Arc<String>,
}

impl Derived {
    pub(super) fn new() -> Self {
        Derived {
            pages: TtlCache::new(PAGES, PAGE_TTL),
            pngs: TtlCache::new(PAGES, PAGE_TTL),
            zips: TtlCache::new(ZIPS, ZIP_TTL),
            seals: TtlCache::new(PAGES, PAGE_TTL),
            shared: Mutex::default(),
            rendering: tokio::sync::Mutex::const_new(()),
            builders: tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())),
            root_pin: std::sync::OnceLock::new(),
        }
    }

    /// Wait for a core to build a zip or PKCS#12 on.
    pub(super) async fn builder(&self) -> Result<tokio::sync::SemaphorePermit<'_>> {
        self.builders.acquire().await.map_err(crate::error::Error::internal)
    }

    fn fresh(&self, key: &str, changes: u64, max_age: Duration) -> Option<Arc<String>> {
        let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        shared
            .get(key)
            .filter(|r| r.changes == changes && r.at.elapsed() < max_age)
            .map(|r| r.body.clone())
    }

    /// A zip built for this visitor a moment ago.
    pub(super) fn zip(&self, visitor_id: &str) -> Option<Arc<Zeroizing<Vec<u8>>>> {
        self.zips.get(&visitor_id.to_string())
    }

    /// Keep a zip briefly; the caller checked the row (key not purged) first.
    pub(super) fn keep_zip(&self, visitor_id: &str, zip: Arc<Zeroizing<Vec<u8>>>) {
        self.zips.insert(visitor_id.to_string(), zip);
    }

    /// Drop everything kept for a visitor now (voided or forgotten: a zip holds the key).
    pub(super) fn forget(&self, visitor_id: &str) {
        let id = visitor_id.to_string();
        self.zips.remove(&id);
        self.pages.remove(&id);
        self.pngs.remove(&id);
    }
}

/// Everything on a certificate page that never changes once the certificate exists.
/// The large parts are shared (`Arc`): a page view takes a reference, not a copy.
pub struct CertParts {
    /// The leaf's details as the page prints them; `None` while issuance is pending or failed.
    pub cert: Option<Arc<CertText>>,
    /// The link's QR code, an inline `<svg>`.
    pub qr_svg: Arc<String>,
    /// The seal drawn from the fingerprint (the one on the ticket).
    pub seal_svg: Option<Arc<String>>,
    /// Leaf then intermediates as space-separated base64 DER, for the page's in-browser
    /// check; empty until issued.
    pub chain_b64: Arc<str>,
    /// The PKCS#12 password the page shows (derived from the link's token).
    pub p12_password: String,
    /// The page's own address, which the QR code carries.
    pub page_url: String,
}

/// A certificate's details as pages print them, formatted once.
pub struct CertText {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial, colon hex.
    pub serial: String,
    /// SHA-256 fingerprint, colon hex.
    pub fingerprint: String,
    /// Validity start, `2026-11-29 09:30 UTC`.
    pub not_before: String,
    /// Validity end.
    pub not_after: String,
    /// Chain lines: the visitor's own, then each CA with its fingerprint.
    pub chain: Vec<String>,
}

impl CertParts {
    fn build(token: &Token, page_url: String, v: &Visitor) -> Result<Self> {
        let qr_svg = Arc::new(qr::svg(&page_url, "qr")?);
        let p12_password = token.p12_password();
        let (Some(leaf), Some(ints), Some(root)) = (&v.cert_pem, &v.intermediates_pem, &v.root_pem) else {
            return Ok(CertParts {
                cert: None,
                qr_svg,
                seal_svg: None,
                chain_b64: Arc::from(""),
                p12_password,
                page_url,
            });
        };
        // Each PEM decoded once: the summary, the chain lines and the base64 chain share them.
        let mut ders = pem_certs(leaf)?;
        ders.truncate(1);
        let s = CertSummary::from_der(
            ders.first()
                .ok_or_else(|| crate::error::Error::internal("no leaf certificate"))?,
        )?;
        ders.extend(pem_certs(ints)?);
        let mut chain = vec![format!("{} (you)", s.common_name)];
        for der in ders[1..].iter().chain(pem_certs(root)?.iter()) {
            let c = CertSummary::from_der(der)?;
            chain.push(format!("{} — SHA-256 {}", c.common_name, c.fingerprint_hex()));
        }
        let b64 = |d: &Vec<u8>| base64::engine::general_purpose::STANDARD.encode(d);
        Ok(CertParts {
            seal_svg: Some(Arc::new(certstamp_printer::seal::svg(&s.fingerprint))),
            cert: Some(Arc::new(CertText {
                fingerprint: s.fingerprint_hex(),
                not_before: human_time(s.not_before),
                not_after: human_time(s.not_after),
                subject: s.subject,
                issuer: s.issuer,
                serial: s.serial,
                chain,
            })),
            qr_svg,
            chain_b64: ders.iter().map(b64).collect::<Vec<_>>().join(" ").into(),
            p12_password,
            page_url,
        })
    }
}

impl App {
    /// A public page (the same for every viewer, like the wall) rendered at most once per
    /// change: `render` runs only when an event was emitted since the last render, or that
    /// render is older than `max_age`; every other viewer shares the same bytes. (The wall
    /// is 350 KB of seals: rendered per viewer, a rush of viewers costs a core and a
    /// copy each.)
    pub async fn shared_render<F>(&self, key: &'static str, max_age: Duration, render: F) -> Result<Arc<String>>
    where
        F: AsyncFnOnce() -> Result<String>,
    {
        let changes = self.events.changes();
        if let Some(body) = self.derived.fresh(key, changes, max_age) {
            return Ok(body);
        }
        let _one = self.derived.rendering.lock().await;
        // Read before rendering: an event during the render makes the next viewer render again.
        let changes = self.events.changes();
        if let Some(body) = self.derived.fresh(key, changes, max_age) {
            return Ok(body);
        }
        let body = Arc::new(render().await?);
        let rendered = Rendered {
            changes,
            at: Instant::now(),
            body: body.clone(),
        };
        self.derived
            .shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, rendered);
        Ok(body)
    }

    /// The seal drawn from a certificate fingerprint (SVG), drawn once.
    pub fn seal_svg(&self, fingerprint: &[u8; 32]) -> Arc<String> {
        self.derived
            .seals
            .get_or_try_insert(fingerprint, || {
                Ok::<_, std::convert::Infallible>(certstamp_printer::seal::svg(fingerprint))
            })
            .unwrap_or_else(|never| match never {})
    }

    /// The page's fixed parts: cached once the certificate exists (before that the row
    /// may still change, and the page refreshes anyway).
    pub fn certificate_parts(&self, token: &Token, v: &Visitor) -> Result<Arc<CertParts>> {
        let build = || CertParts::build(token, self.page_url(token), v);
        if v.cert_pem.is_none() {
            return Ok(Arc::new(build()?));
        }
        self.derived.pages.get_or_try_insert(&v.id, build)
    }

    /// The kiosk's own root (not a stored copy) as certificate pages pin it; `None` if its
    /// PEM does not parse.
    pub fn root_pin(&self) -> Option<&RootPin> {
        self.derived
            .root_pin
            .get_or_init(|| {
                let der = pem_certs(&self.issuer.root_pem()).ok()?.into_iter().next()?;
                Some(RootPin {
                    b64: base64::engine::general_purpose::STANDARD.encode(&der).into(),
                    fingerprint: crate::pki::colon_hex(&crate::pki::sha256(&der)).into(),
                })
            })
            .as_ref()
    }

    /// The link's QR code as a PNG.
    pub fn qr_png(&self, token: &Token, v: &Visitor) -> Result<Arc<Vec<u8>>> {
        self.derived
            .pngs
            .get_or_try_insert(&v.id, || qr::png(&self.page_url(token), 8))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::events::Event;

    #[tokio::test]
    async fn a_shared_page_renders_once_per_change_and_per_age() {
        let dir = tempfile::tempdir().unwrap();
        let app = crate::web::tests::app_state(dir.path());
        let renders = AtomicUsize::new(0);
        let render = async || {
            let n = renders.fetch_add(1, Ordering::SeqCst);
            Ok(format!("render {n}"))
        };
        let long = Duration::from_secs(3600);
        let first = app.shared_render("page", long, render).await.unwrap();
        for _ in 0..5 {
            let again = app.shared_render("page", long, render).await.unwrap();
            assert!(Arc::ptr_eq(&first, &again), "nothing happened: the same bytes");
        }
        app.events.emit(Event::Guestbook { id: 1 });
        assert_eq!(*app.shared_render("page", long, render).await.unwrap(), "render 1");
        // Another key renders on its own; a zero age always renders.
        assert_eq!(*app.shared_render("other", long, render).await.unwrap(), "render 2");
        assert_eq!(
            *app.shared_render("page", Duration::ZERO, render).await.unwrap(),
            "render 3"
        );
        assert_eq!(renders.load(Ordering::SeqCst), 4);
        // A failed render is not kept.
        app.events.emit(Event::Guestbook { id: 2 });
        let failed = app
            .shared_render("page", long, async || Err(crate::error::Error::NotFound))
            .await;
        assert!(failed.is_err());
        assert_eq!(*app.shared_render("page", long, render).await.unwrap(), "render 4");
    }
}
