//! Is this a certificate from this booth, valid now? The pure check behind
//! `certstamp verify`: leaf -> conference intermediate -> booth root, by signature,
//! names, CA flags and validity, with a reason a person can act on when it fails.
//! The browser runs the same steps in `assets/verify.js`.

use ::time::OffsetDateTime;
use x509_parser::der_parser::oid::Oid;
use x509_parser::oid_registry::{OID_X509_COMMON_NAME, OID_X509_LOCALITY_NAME, OID_X509_ORGANIZATIONAL_UNIT};
use x509_parser::prelude::*;

use crate::pki::{CertSummary, colon_hex, sha256};

/// The same checks for browsers (WebCrypto): the kiosk serves it and the archive ships it.
pub const BROWSER_JS: &str = include_str!("../assets/verify.js");

/// The conference a booth certificate belongs to, read off its intermediate's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceName {
    /// The slug (the intermediate's OU).
    pub slug: String,
    /// Display name (its CN without " intermediate CA").
    pub name: String,
    /// City (its L).
    pub city: String,
}

impl ConferenceName {
    /// Read from a conference intermediate's DER; `None` when it is not one of certstamp's.
    pub fn of_intermediate(der: &[u8]) -> Option<Self> {
        let c = X509Certificate::from_der(der).ok()?.1;
        let cn = first(c.subject(), &OID_X509_COMMON_NAME);
        let slug = first(c.subject(), &OID_X509_ORGANIZATIONAL_UNIT);
        (!slug.is_empty()).then(|| ConferenceName {
            name: cn.trim_end_matches(" intermediate CA").to_string(),
            city: first(c.subject(), &OID_X509_LOCALITY_NAME),
            slug,
        })
    }
}

/// A certificate that verified.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The visitor's certificate.
    pub leaf: CertSummary,
    /// The conference intermediate that signed it.
    pub intermediate: CertSummary,
    /// Which conference issued it.
    pub conference: ConferenceName,
    /// SHA-256 of the booth root, colon hex.
    pub root_fingerprint: String,
}

/// Why a certificate is not a valid booth certificate now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not DER X.509 at all.
    #[error("{0} is not a readable X.509 certificate")]
    Unreadable(&'static str),
    /// The given root is not a self-signed CA.
    #[error("the given root is not a self-signed CA certificate")]
    BadRoot,
    /// No intermediate among those given has the leaf's issuer name.
    #[error("no conference CA named \"{0}\" was given: pass the chain (--chain chain.pem) or --data-dir")]
    MissingIntermediate(String),
    /// An intermediate with the right name exists but did not sign the leaf.
    #[error("its signature does not verify: the certificate was altered, or another CA with the same name issued it")]
    BadSignature,
    /// The intermediate is not signed by the booth root.
    #[error("its conference CA ({0}) is not signed by this booth root: it is from another CA")]
    ForeignCa(String),
    /// The intermediate is not a CA certificate.
    #[error("its issuer ({0}) is not a CA certificate")]
    IssuerNotCa(String),
    /// It is a CA certificate, not a visitor's.
    #[error("it is a CA certificate, not a visitor's certificate")]
    NotALeaf,
    /// It lacks the clientAuth extended key usage every visitor certificate carries.
    #[error("it is not a client certificate (no clientAuth extended key usage)")]
    NotClientAuth,
    /// Some certificate of the chain is not valid yet.
    #[error("{0} is not valid until {1}")]
    NotYetValid(&'static str, String),
    /// Some certificate of the chain has expired.
    #[error("{0} expired on {1}")]
    Expired(&'static str, String),
}

fn parse<'a>(der: &'a [u8], what: &'static str) -> Result<X509Certificate<'a>, Rejection> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|_| Rejection::Unreadable(what))
}

fn first(name: &X509Name, attr: &Oid<'_>) -> String {
    name.iter_by_oid(attr)
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn when(t: ASN1Time) -> String {
    crate::clock::human_time(t.to_datetime())
}

fn check_dates(c: &X509Certificate<'_>, what: &'static str, now: ASN1Time) -> Result<(), Rejection> {
    let v = c.validity();
    if now < v.not_before {
        return Err(Rejection::NotYetValid(what, when(v.not_before)));
    }
    if now > v.not_after {
        return Err(Rejection::Expired(what, when(v.not_after)));
    }
    Ok(())
}

fn signed_by(child: &X509Certificate<'_>, parent: &X509Certificate<'_>) -> bool {
    child.issuer().as_raw() == parent.subject().as_raw() && child.verify_signature(Some(parent.public_key())).is_ok()
}

/// Whether `parent_der` (a CA) signed `child_der`, by name and signature; dates aside.
pub fn issued_by(child_der: &[u8], parent_der: &[u8]) -> bool {
    match (parse(child_der, "child"), parse(parent_der, "parent")) {
        (Ok(child), Ok(parent)) => parent.is_ca() && signed_by(&child, &parent),
        _ => false,
    }
}

/// Check `leaf_der` against the booth root `root_der` at `now`. `candidates` are the
/// certificates that may hold its conference intermediate (a chain.pem, the data dir's
/// intermediates); the leaf and the root among them are ignored.
pub fn booth_certificate(
    leaf_der: &[u8],
    candidates: &[Vec<u8>],
    root_der: &[u8],
    now: OffsetDateTime,
) -> Result<Verified, Rejection> {
    let leaf = parse(leaf_der, "the certificate")?;
    if leaf.is_ca() {
        return Err(Rejection::NotALeaf);
    }
    let root = parse(root_der, "the root")?;
    if !root.is_ca() || !signed_by(&root, &root) {
        return Err(Rejection::BadRoot);
    }
    let named: Vec<(&Vec<u8>, X509Certificate<'_>)> = candidates
        .iter()
        .filter(|d| d.as_slice() != leaf_der && d.as_slice() != root_der)
        .filter_map(|d| parse(d, "an intermediate").ok().map(|c| (d, c)))
        .filter(|(_, c)| c.subject().as_raw() == leaf.issuer().as_raw())
        .collect();
    if named.is_empty() {
        return Err(Rejection::MissingIntermediate(leaf.issuer().to_string()));
    }
    let (int_der, int) = named
        .into_iter()
        .find(|(_, c)| signed_by(&leaf, c))
        .ok_or(Rejection::BadSignature)?;
    let int_cn = first(int.subject(), &OID_X509_COMMON_NAME);
    if !int.is_ca() {
        return Err(Rejection::IssuerNotCa(int_cn));
    }
    if !signed_by(&int, &root) {
        return Err(Rejection::ForeignCa(int_cn));
    }
    match leaf.extended_key_usage() {
        Ok(Some(eku)) if eku.value.client_auth => {}
        _ => return Err(Rejection::NotClientAuth),
    }
    let at = ASN1Time::from(now);
    check_dates(&root, "the booth root", at)?;
    check_dates(&int, "its conference CA", at)?;
    check_dates(&leaf, "the certificate", at)?;
    let summary = |d: &[u8], what| CertSummary::from_der(d).map_err(|_| Rejection::Unreadable(what));
    Ok(Verified {
        leaf: summary(leaf_der, "the certificate")?,
        intermediate: summary(int_der, "an intermediate")?,
        conference: ConferenceName::of_intermediate(int_der).unwrap_or(ConferenceName {
            slug: String::new(),
            name: int_cn,
            city: String::new(),
        }),
        root_fingerprint: colon_hex(&sha256(root_der)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::{self, KeyedCert, pem_certs};
    use ::time::Duration;

    struct Booth {
        root: KeyedCert,
        int: KeyedCert,
    }

    fn booth() -> Booth {
        let now = OffsetDateTime::now_utc();
        let root = pki::new_root(now, 20).unwrap();
        let int = pki::new_intermediate(&root, "KubeCon EU", "kc-eu", "Amsterdam", now, 10).unwrap();
        Booth { root, int }
    }

    fn der(pem: &str) -> Vec<u8> {
        pem_certs(pem).unwrap().remove(0)
    }

    impl Booth {
        fn leaf_at(&self, now: OffsetDateTime, days: i64) -> Vec<u8> {
            let end = CertSummary::parse(&self.int.cert_pem).unwrap().not_after;
            let p = pki::leaf_params("Ada", "ada@example.org", now, Duration::days(days), end).unwrap();
            der(&pki::sign_with_new_key(&p, &self.int).unwrap().cert_pem)
        }
        fn check(&self, leaf: &[u8]) -> Result<Verified, Rejection> {
            let chain = vec![leaf.to_vec(), der(&self.int.cert_pem)];
            booth_certificate(leaf, &chain, &der(&self.root.cert_pem), OffsetDateTime::now_utc())
        }
    }

    #[test]
    fn a_booth_certificate_verifies_and_names_its_conference() {
        let b = booth();
        let leaf = b.leaf_at(OffsetDateTime::now_utc(), 30);
        let v = b.check(&leaf).unwrap();
        assert_eq!(
            v.conference,
            ConferenceName {
                slug: "kc-eu".into(),
                name: "KubeCon EU".into(),
                city: "Amsterdam".into()
            }
        );
        assert_eq!(v.leaf.common_name, "Ada");
        assert_eq!(
            v.root_fingerprint,
            CertSummary::parse(&b.root.cert_pem).unwrap().fingerprint_hex()
        );
    }

    #[test]
    fn a_look_alike_from_another_ca_is_refused() {
        // Same names all the way up: only the signatures tell the two booths apart.
        let (real, fake) = (booth(), booth());
        let leaf = fake.leaf_at(OffsetDateTime::now_utc(), 30);
        let chain = vec![leaf.clone(), der(&fake.int.cert_pem)];
        let got = booth_certificate(&leaf, &chain, &der(&real.root.cert_pem), OffsetDateTime::now_utc());
        assert!(
            matches!(got, Err(Rejection::ForeignCa(ref cn)) if cn == "KubeCon EU intermediate CA"),
            "{got:?}"
        );
        // Given the real intermediate instead, the look-alike's signature does not verify.
        let chain = vec![der(&real.int.cert_pem)];
        let got = booth_certificate(&leaf, &chain, &der(&real.root.cert_pem), OffsetDateTime::now_utc());
        assert_eq!(got.unwrap_err(), Rejection::BadSignature);
    }

    #[test]
    fn expired_and_not_yet_valid_are_refused_with_the_date() {
        let b = booth();
        let old = b.leaf_at(OffsetDateTime::now_utc() - Duration::days(10), 2);
        assert!(matches!(b.check(&old), Err(Rejection::Expired("the certificate", _))));
        let leaf = b.leaf_at(OffsetDateTime::now_utc(), 30);
        let chain = vec![leaf.clone(), der(&b.int.cert_pem)];
        let later = OffsetDateTime::now_utc() + Duration::days(400);
        let got = booth_certificate(&leaf, &chain, &der(&b.root.cert_pem), later);
        assert!(matches!(got, Err(Rejection::Expired("the certificate", _))), "{got:?}");
        let earlier = OffsetDateTime::now_utc() - Duration::days(1);
        let got = booth_certificate(&leaf, &chain, &der(&b.root.cert_pem), earlier);
        assert!(matches!(got, Err(Rejection::NotYetValid(..))), "{got:?}");
    }

    #[test]
    fn a_tampered_certificate_is_refused() {
        let b = booth();
        let mut leaf = b.leaf_at(OffsetDateTime::now_utc(), 30);
        let at = leaf.windows(3).position(|w| w == b"Ada").unwrap();
        leaf[at] = b'E';
        assert_eq!(b.check(&leaf).unwrap_err(), Rejection::BadSignature);
        let mut broken = leaf.clone();
        broken.truncate(40);
        assert_eq!(b.check(&broken).unwrap_err(), Rejection::Unreadable("the certificate"));
    }

    #[test]
    fn wrong_shapes_are_refused() {
        let b = booth();
        let int = der(&b.int.cert_pem);
        let root = der(&b.root.cert_pem);
        // The intermediate itself is not a visitor certificate.
        let got = booth_certificate(&int, std::slice::from_ref(&root), &root, OffsetDateTime::now_utc());
        assert_eq!(got.unwrap_err(), Rejection::NotALeaf);
        // A leaf without its intermediate names what is missing.
        let leaf = b.leaf_at(OffsetDateTime::now_utc(), 30);
        let got = booth_certificate(&leaf, &[], &root, OffsetDateTime::now_utc());
        assert!(
            matches!(got, Err(Rejection::MissingIntermediate(ref n)) if n.contains("KubeCon EU intermediate CA")),
            "{got:?}"
        );
        // A leaf as the root is not a root.
        let got = booth_certificate(&leaf, std::slice::from_ref(&int), &leaf, OffsetDateTime::now_utc());
        assert_eq!(got.unwrap_err(), Rejection::BadRoot);
        // A server certificate of the booth has no clientAuth.
        let end = CertSummary::parse(&b.int.cert_pem).unwrap().not_after;
        let p = pki::server_params("localhost", OffsetDateTime::now_utc(), Duration::days(9), end).unwrap();
        let server = der(&pki::sign_with_new_key(&p, &b.int).unwrap().cert_pem);
        assert_eq!(b.check(&server).unwrap_err(), Rejection::NotClientAuth);
    }
}
