//! The booth guestbook over mutual TLS: a second listener that accepts an entry only
//! from a client presenting a certificate issued under the booth root.
//!
//! A certificate is checked twice with the same rules wherever it comes from: rustls'
//! webpki verifier (chain to the root only, validity, clientAuth if EKUs are present,
//! not a CA) at the handshake, then [`check_chain`] (pure, stricter: EKU must be
//! present, optional one-conference rule) and the staff void list in the handler.
//! The kiosk's own "sign through the kiosk" form runs the very same [`Guestbook::authorize`].
//! The listener's routes and answers live in the web layer (`web::mtls`); nothing here knows axum.

use std::sync::Arc;

use ::time::OffsetDateTime;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{RootCertStore, ServerConfig};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::clock::human_ts;
use crate::config::GuestbookSettings;
use crate::error::{Error, Result};
use crate::issuer::Issuer;
use crate::limit::ClientLimit;
use crate::pki::{self, CertSummary};
use crate::store::Store;
use crate::store::guestbook::{Entry, NewEntry};
use crate::validate::{self, visible};

/// Sign requests allowed per certificate per minute.
pub const SIGN_RATE_PER_MINUTE: u32 = 30;
/// Largest sign request body, in bytes.
pub const BODY_LIMIT: usize = 4 * 1024;

/// Who signs: read from a certificate that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signer {
    /// Issuer DN.
    pub issuer: String,
    /// Serial, colon hex (as the visitors table stores it).
    pub serial: String,
    /// Subject CN.
    pub name: String,
    /// First rfc822Name SAN, if any.
    pub email: Option<String>,
}

impl Signer {
    /// What the guestbook shows unless the signer chooses otherwise: their first name.
    pub fn default_display_name(&self) -> String {
        validate::first_name(&self.name)
    }
}

/// Pure checks on a client chain (leaf first, then what the client sent after it).
/// Returns a reason a visitor can read when the certificate is not accepted.
pub fn check_chain(
    chain: &[Vec<u8>],
    root_pem: &str,
    only_intermediate: Option<&[u8]>,
    now: OffsetDateTime,
) -> std::result::Result<Signer, &'static str> {
    let leaf_der = chain.first().ok_or("no client certificate was presented")?;
    let (_, leaf) = X509Certificate::from_der(leaf_der).map_err(|_| "the certificate could not be parsed")?;
    let summary = CertSummary::from_der(leaf_der).map_err(|_| "the certificate could not be parsed")?;
    if summary.is_ca {
        return Err("it is a CA certificate, not a visitor's certificate");
    }
    if now < summary.not_before {
        return Err("it is not valid yet");
    }
    if now > summary.not_after {
        return Err("it has expired");
    }
    // webpki lets a leaf without any EKU through; a visitor certificate always has clientAuth.
    match leaf.extended_key_usage() {
        Ok(Some(eku)) if eku.value.client_auth => {}
        _ => return Err("it is not meant for client authentication (no clientAuth extended key usage)"),
    }
    // Clients send extras (openssl's -cert_chain repeats the leaf; some add the root), so
    // look for the one intermediate that links this leaf to the root.
    let leaf_pem = pki::der_to_pem(leaf_der);
    let intermediate = chain[1..]
        .iter()
        .filter(|d| *d != leaf_der)
        .find(|d| pki::verify_chain(&format!("{leaf_pem}{}", pki::der_to_pem(d)), root_pem, now).is_ok())
        .ok_or("it does not chain to the booth root CA through an intermediate sent with it")?;
    if let Some(int) = only_intermediate
        && intermediate.as_slice() != int
    {
        return Err("only certificates of this conference are accepted here");
    }
    Ok(Signer {
        issuer: summary.issuer,
        serial: summary.serial,
        name: summary.common_name,
        email: summary.emails.into_iter().next(),
    })
}

/// The guestbook's trust settings and per-certificate limits; the app holds one.
pub struct Guestbook {
    verifier: Arc<dyn ClientCertVerifier>,
    root_pem: String,
    /// The current conference's intermediate, asked at each check: in cert-manager mode
    /// the kiosk learns it only from the first issued chain.
    current_intermediate: Box<dyn Fn() -> String + Send + Sync>,
    this_conference_only: bool,
    /// Sign requests per certificate, across replicas on a shared database.
    limiter: ClientLimit,
}

fn ring() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Guestbook {
    /// Trust `root_pem` only; `this_conference_only` also pins the intermediate that
    /// `current_intermediate` returns (PEM).
    pub fn new(
        root_pem: &str,
        current_intermediate: impl Fn() -> String + Send + Sync + 'static,
        this_conference_only: bool,
        store: &Store,
    ) -> Result<Self> {
        let mut roots = RootCertStore::empty();
        for der in pki::pem_certs(root_pem)? {
            roots
                .add(CertificateDer::from(der))
                .map_err(|e| Error::Pki(format!("booth root: {e}")))?;
        }
        // Anonymous clients complete the handshake so the handler can answer 401 in words.
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), ring())
            .allow_unauthenticated()
            .build()
            .map_err(|e| Error::Pki(format!("client verifier: {e}")))?;
        Ok(Guestbook {
            verifier,
            root_pem: root_pem.to_string(),
            current_intermediate: Box::new(current_intermediate),
            this_conference_only,
            limiter: ClientLimit::new(SIGN_RATE_PER_MINUTE, store),
        })
    }

    /// Check a client chain exactly as the listener does: webpki, [`check_chain`], void list.
    pub async fn authorize(&self, store: &Store, chain: &[Vec<u8>]) -> Result<Signer> {
        let Some((leaf, rest)) = chain.split_first() else {
            return Err(Error::CertificateRequired);
        };
        let refuse = |why: &str| Error::Forbidden(format!("This certificate is not accepted: {why}."));
        let leaf = CertificateDer::from(leaf.as_slice());
        let rest: Vec<CertificateDer<'_>> = rest.iter().map(|d| CertificateDer::from(d.as_slice())).collect();
        self.verifier
            .verify_client_cert(&leaf, &rest, UnixTime::now())
            .map_err(|e| refuse(&format!("{e}")))?;
        let pinned = if self.this_conference_only {
            let pem = (self.current_intermediate)();
            let der = pki::pem_certs(&pem).ok().and_then(|mut v| v.pop());
            Some(der.ok_or_else(|| refuse("this conference's CA is not known to the kiosk yet"))?)
        } else {
            None
        };
        let signer =
            check_chain(chain, &self.root_pem, pinned.as_deref(), OffsetDateTime::now_utc()).map_err(refuse)?;
        if let Some(v) = store.visitor_by_serial(&signer.serial).await?
            && v.voided_at.is_some()
        {
            return Err(refuse("it was voided by booth staff"));
        }
        Ok(signer)
    }

    /// Count one sign request of this certificate (on every replica); 429 past
    /// [`SIGN_RATE_PER_MINUTE`].
    pub async fn allow(&self, signer: &Signer) -> Result<()> {
        let cert = format!("guestbook sign\0{}\n{}", signer.issuer, signer.serial);
        let key = crate::token::hex(ring::digest::digest(&ring::digest::SHA256, cert.as_bytes()).as_ref());
        if self.limiter.allow(key, crate::clock::now_ts()).await {
            Ok(())
        } else {
            Err(Error::RateLimited)
        }
    }

    /// Validate the message and the display name (empty: the signer's first name) and
    /// write the signer's entry. The entry never holds an email.
    pub async fn sign(
        &self,
        store: &Store,
        signer: &Signer,
        raw_message: &str,
        raw_display_name: &str,
        star: bool,
    ) -> Result<Entry> {
        let message = validate::message(raw_message).map_err(Error::Invalid)?;
        let name = validate::display_name(raw_display_name)
            .map_err(Error::Invalid)?
            .unwrap_or_else(|| signer.default_display_name());
        let entry = store
            .upsert_entry(NewEntry {
                issuer: signer.issuer.clone(),
                serial: signer.serial.clone(),
                name,
                message,
                star,
            })
            .await?;
        // Serial only: never the name, email or message.
        tracing::info!(serial = %signer.serial, star, "guestbook signed");
        Ok(entry)
    }

    /// The listener's TLS settings: the configured certificate, or one issued now for the
    /// guestbook hostname; client certificates checked against the booth root.
    pub async fn tls_config(&self, g: &GuestbookSettings, issuer: &dyn Issuer) -> Result<ServerConfig> {
        let (chain_pem, key_pem) = match (&g.tls_cert, &g.tls_key) {
            (Some(c), Some(k)) => (
                std::fs::read_to_string(c)
                    .map_err(|e| Error::Invalid(format!("cannot read guestbook TLS cert {}: {e}", c.display())))?,
                zeroize::Zeroizing::new(
                    std::fs::read_to_string(k)
                        .map_err(|e| Error::Invalid(format!("cannot read guestbook TLS key {}: {e}", k.display())))?,
                ),
            ),
            (None, None) => {
                let issued = issuer.server_cert(&g.hostname).await?;
                (issued.chain_pem(), issued.leaf.key_pem.clone())
            }
            _ => {
                return Err(Error::Invalid(
                    "--guestbook-tls-cert and --guestbook-tls-key must be given together".into(),
                ));
            }
        };
        let certs = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::Invalid(format!("guestbook TLS certificate: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| Error::Invalid(format!("guestbook TLS key: {e}")))?;
        let mut config = ServerConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Pki(e.to_string()))?
            .with_client_cert_verifier(self.verifier.clone())
            .with_single_cert(certs, key)
            .map_err(|e| Error::Invalid(format!("guestbook TLS certificate and key: {e}")))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// An entry as the HTML pages show it (`templates/_guestbook_entries.html`); text already
/// made visible-safe.
pub struct EntryView {
    /// The display name the signer chose.
    pub name: String,
    /// Message.
    pub message: String,
    /// Signed over mutual TLS.
    pub star: bool,
    /// Last signature.
    pub when: String,
}

impl EntryView {
    /// The view of a stored entry.
    pub fn of(e: &Entry) -> Self {
        EntryView {
            name: visible(&e.name),
            message: visible(&e.message),
            star: e.star,
            when: human_ts(e.signed_at),
        }
    }
}

/// `1 entry`, `2 entries`.
pub fn entries_count(total: u64) -> String {
    if total == 1 {
        "1 entry".into()
    } else {
        format!("{total} entries")
    }
}

/// The plain-text view: safe to `curl` straight into a terminal.
pub fn render_text(conference: &str, entries: &[Entry], page: u32, pages: u32, total: u64) -> String {
    let mut out = format!(
        "Guestbook of {} (page {page} of {pages}, {}, newest first; * = signed over mutual TLS)\n\n",
        visible(conference),
        entries_count(total)
    );
    for e in entries {
        let star = if e.star { "*" } else { " " };
        out.push_str(&format!(
            "{star} {}  {}\n    {}\n\n",
            visible(&e.name),
            human_ts(e.signed_at),
            visible(&e.message)
        ));
    }
    if page < pages {
        out.push_str(&format!("More: /guestbook.txt?page={}\n", page + 1));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::pki::{KeyedCert, leaf_params, new_intermediate, new_root, sign_with_new_key};
    use ::time::Duration as D;

    struct Ca {
        root: KeyedCert,
        int: KeyedCert,
    }

    fn ca(slug: &str) -> Ca {
        let now = OffsetDateTime::now_utc();
        let root = new_root(now, 20).unwrap();
        let int = new_intermediate(&root, "Conf", slug, "X", now, 10).unwrap();
        Ca { root, int }
    }

    fn ders(pems: &[&str]) -> Vec<Vec<u8>> {
        pems.iter().flat_map(|p| pki::pem_certs(p).unwrap()).collect()
    }

    fn leaf(int: &KeyedCert, tweak: impl FnOnce(&mut rcgen::CertificateParams)) -> KeyedCert {
        let now = OffsetDateTime::now_utc();
        let mut p = leaf_params("Ada", "ada@example.org", now, D::days(30), now + D::days(3650)).unwrap();
        tweak(&mut p);
        sign_with_new_key(&p, int).unwrap()
    }

    #[test]
    fn a_visitor_leaf_with_its_intermediate_passes() {
        let c = ca("a");
        let l = leaf(&c.int, |_| {});
        let now = OffsetDateTime::now_utc();
        let s = check_chain(&ders(&[&l.cert_pem, &c.int.cert_pem]), &c.root.cert_pem, None, now).unwrap();
        assert_eq!(s.name, "Ada");
        assert_eq!(s.email.as_deref(), Some("ada@example.org"));
        assert_eq!(s.serial, CertSummary::parse(&l.cert_pem).unwrap().serial);
        let int_der = pki::pem_certs(&c.int.cert_pem).unwrap().remove(0);
        let only = Some(int_der.as_slice());
        assert!(check_chain(&ders(&[&l.cert_pem, &c.int.cert_pem]), &c.root.cert_pem, only, now).is_ok());
    }

    #[test]
    fn every_bad_chain_has_its_reason() {
        let c = ca("a");
        let other = ca("b");
        let now = OffsetDateTime::now_utc();
        let root = &c.root.cert_pem;
        let check = |chain: Vec<Vec<u8>>| check_chain(&chain, root, None, now).unwrap_err();
        let good = leaf(&c.int, |_| {});
        assert!(check(vec![]).contains("no client certificate"));
        assert!(check(ders(&[&good.cert_pem])).contains("chain"));
        // Repeated leaf and an extra root (what openssl s_client -cert_chain and others send) are fine.
        let messy = ders(&[&good.cert_pem, &good.cert_pem, &c.int.cert_pem, &c.root.cert_pem]);
        assert!(check_chain(&messy, root, None, now).is_ok());
        let foreign = leaf(&other.int, |_| {});
        assert!(check(ders(&[&foreign.cert_pem, &other.int.cert_pem])).contains("chain"));
        // Someone else's intermediate sent along with a real leaf.
        assert!(check(ders(&[&good.cert_pem, &other.int.cert_pem])).contains("chain"));
        let expired = leaf(&c.int, |p| {
            p.not_before = now - D::days(10);
            p.not_after = now - D::days(1);
        });
        assert!(check(ders(&[&expired.cert_pem, &c.int.cert_pem])).contains("expired"));
        let early = leaf(&c.int, |p| {
            p.not_before = now + D::days(1);
            p.not_after = now + D::days(10);
        });
        assert!(check(ders(&[&early.cert_pem, &c.int.cert_pem])).contains("not valid yet"));
        let no_eku = leaf(&c.int, |p| p.extended_key_usages.clear());
        assert!(check(ders(&[&no_eku.cert_pem, &c.int.cert_pem])).contains("clientAuth"));
        let server = leaf(&c.int, |p| {
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        });
        assert!(check(ders(&[&server.cert_pem, &c.int.cert_pem])).contains("clientAuth"));
        assert!(check(ders(&[&c.int.cert_pem])).contains("CA certificate"));
        // The one-conference rule.
        let second = new_intermediate(&c.root, "Other", "b", "X", now, 1).unwrap();
        let theirs = leaf(&second, |_| {});
        let chain = ders(&[&theirs.cert_pem, &second.cert_pem]);
        assert!(check_chain(&chain, root, None, now).is_ok());
        let int_der = pki::pem_certs(&c.int.cert_pem).unwrap().remove(0);
        let err = check_chain(&chain, root, Some(&int_der), now).unwrap_err();
        assert!(err.contains("this conference"), "{err}");
    }

    #[tokio::test]
    async fn authorize_uses_webpki_and_the_void_list() {
        let c = ca("a");
        let int_pem = c.int.cert_pem.clone();
        let store = Store::in_memory().unwrap();
        let gb = Guestbook::new(&c.root.cert_pem, move || int_pem.clone(), false, &store).unwrap();
        assert!(matches!(
            gb.authorize(&store, &[]).await,
            Err(Error::CertificateRequired)
        ));
        let good = leaf(&c.int, |_| {});
        let chain = ders(&[&good.cert_pem, &c.int.cert_pem]);
        let signer = gb.authorize(&store, &chain).await.unwrap();
        let err = gb.authorize(&store, &ders(&[&good.cert_pem])).await.unwrap_err();
        assert!(matches!(err, Error::Forbidden(_)), "{err}");
        // A limit of 30 a minute per certificate, then 429.
        for _ in 0..SIGN_RATE_PER_MINUTE {
            gb.allow(&signer).await.unwrap();
            gb.sign(&store, &signer, "hi", "", true).await.unwrap();
        }
        assert!(matches!(gb.allow(&signer).await, Err(Error::RateLimited)));
        assert_eq!(store.entries_page(10, 0).await.unwrap().1, 1);
    }

    #[test]
    fn text_view_escapes_terminal_controls() {
        let e = Entry {
            id: 1,
            name: "Eve\u{1b}[2J".into(),
            message: "hi \u{1b}[31mred\u{7} \u{202e}gnp.exe".into(),
            star: true,
            signed_at: 0,
        };
        let t = render_text("Conf", &[e], 1, 2, 21);
        assert!(!t.chars().any(|c| c.is_control() && c != '\n'), "{t:?}");
        assert!(!t.contains('\u{202e}'));
        assert!(t.contains("hi \\u{1b}[31mred\\u{7} \\u{202e}gnp.exe"), "{t}");
        assert!(t.contains("* Eve\\u{1b}[2J  1970-01-01 00:00 UTC"), "{t}");
        assert!(t.contains("?page=2"));
    }

    #[tokio::test]
    async fn entries_carry_the_chosen_display_name_and_never_an_email() {
        let c = ca("a");
        let int_pem = c.int.cert_pem.clone();
        let store = Store::in_memory().unwrap();
        let gb = Guestbook::new(&c.root.cert_pem, move || int_pem.clone(), false, &store).unwrap();
        let now = OffsetDateTime::now_utc();
        let p = leaf_params("Ada Lovelace", "ada@example.org", now, D::days(30), now + D::days(3650)).unwrap();
        let ada = sign_with_new_key(&p, &c.int).unwrap();
        let signer = gb
            .authorize(&store, &ders(&[&ada.cert_pem, &c.int.cert_pem]))
            .await
            .unwrap();
        let e = gb.sign(&store, &signer, "hi", "  ", false).await.unwrap();
        assert_eq!(e.name, "Ada", "the first name by default");
        let e = gb.sign(&store, &signer, "hi", " Countess A. ", false).await.unwrap();
        assert_eq!(e.name, "Countess A.");
        let err = gb
            .sign(&store, &signer, "hi", "ada@example.org", false)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Invalid(_)), "{err}");
        let json = serde_json::to_string(&store.entries_page(10, 0).await.unwrap().0).unwrap();
        assert!(!json.contains('@') && !json.contains("example.org"), "{json}");
    }
}
