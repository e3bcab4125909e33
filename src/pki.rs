//! Pure X.509 work with no I/O: the booth root, conference intermediates, the visitor
//! leaf profile, and parsing/verifying what any issuer hands back.

use ::time::{Duration, OffsetDateTime};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use x509_parser::prelude::*;

use crate::error::{Error, Result};

/// A certificate with its PKCS#8 private key, both PEM.
#[derive(Clone)]
pub struct KeyedCert {
    /// Certificate PEM.
    pub cert_pem: String,
    /// PKCS#8 private key PEM.
    pub key_pem: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for KeyedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedCert")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

/// A finished certificate as every issuing backend hands it over.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    /// Leaf certificate and its PKCS#8 private key.
    pub leaf: KeyedCert,
    /// Intermediates after the leaf, PEM (what TLS clients send after the leaf).
    pub intermediates_pem: String,
    /// The booth root, PEM.
    pub root_pem: String,
}

impl IssuedCert {
    /// Leaf then intermediates: `chain.pem`.
    pub fn chain_pem(&self) -> String {
        format!("{}{}", self.leaf.cert_pem, self.intermediates_pem)
    }
}

fn pki_err(e: impl std::fmt::Display) -> Error {
    Error::Pki(e.to_string())
}

fn random_serial() -> SerialNumber {
    // 128 random bits with the top bit cleared keep the DER INTEGER positive and 16 bytes long.
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from_slice(&bytes)
}

fn ca_params(
    dn: DistinguishedName,
    path_len: u8,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = not_before;
    p.not_after = not_after;
    p.serial_number = Some(random_serial());
    p.use_authority_key_identifier_extension = true;
    p
}

/// A new self-signed booth root: ECDSA P-256, CA:TRUE pathlen 1.
pub fn new_root(now: OffsetDateTime, years: i64) -> Result<KeyedCert> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(pki_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "certstamp");
    dn.push(DnType::CommonName, "certstamp booth root CA");
    let mut p = ca_params(dn, 1, now - Duration::hours(1), now + Duration::days(365 * years));
    // A root has no issuer other than itself; AKI would only repeat the SKI.
    p.use_authority_key_identifier_extension = false;
    let cert = p.self_signed(&key).map_err(pki_err)?;
    Ok(KeyedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem().into(),
    })
}

/// A new conference intermediate signed by the root: ECDSA P-256, CA:TRUE pathlen 0.
/// Its NotAfter never passes the root's.
pub fn new_intermediate(
    root: &KeyedCert,
    conference_name: &str,
    slug: &str,
    city: &str,
    now: OffsetDateTime,
    years: i64,
) -> Result<KeyedCert> {
    let root_key = KeyPair::from_pem(&root.key_pem).map_err(pki_err)?;
    let root_not_after = CertSummary::parse(&root.cert_pem)?.not_after;
    let issuer = Issuer::from_ca_cert_pem(&root.cert_pem, root_key).map_err(pki_err)?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(pki_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "certstamp");
    dn.push(DnType::OrganizationalUnitName, slug);
    dn.push(DnType::LocalityName, city);
    dn.push(DnType::CommonName, format!("{conference_name} intermediate CA"));
    let not_after = (now + Duration::days(365 * years)).min(root_not_after);
    let p = ca_params(dn, 0, now - Duration::hours(1), not_after);
    let cert = p.signed_by(&key, &issuer).map_err(pki_err)?;
    Ok(KeyedCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem().into(),
    })
}

/// An end-entity certificate: CA:FALSE, KU digitalSignature (critical), one EKU, SKI + AKI,
/// 128-bit random serial, NotAfter capped at the issuing CA's NotAfter.
fn end_entity(
    cn: &str,
    sans: Vec<SanType>,
    eku: ExtendedKeyUsagePurpose,
    now: OffsetDateTime,
    validity: Duration,
    ca_not_after: OffsetDateTime,
) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    p.distinguished_name = dn;
    p.subject_alt_names = sans;
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![eku];
    // Allow for clients' clocks running a few minutes behind the kiosk's.
    p.not_before = now - Duration::minutes(5);
    p.not_after = (now + validity).min(ca_not_after);
    p.serial_number = Some(random_serial());
    p.use_authority_key_identifier_extension = true;
    p
}

/// The visitor leaf profile: CN = name, rfc822Name = email, EKU clientAuth (see [`end_entity`]).
pub fn leaf_params(
    name: &str,
    email: &str,
    now: OffsetDateTime,
    validity: Duration,
    ca_not_after: OffsetDateTime,
) -> Result<CertificateParams> {
    let email = email.try_into().map_err(|_| Error::Invalid("invalid email".into()))?;
    let sans = vec![SanType::Rfc822Name(email)];
    Ok(end_entity(
        name,
        sans,
        ExtendedKeyUsagePurpose::ClientAuth,
        now,
        validity,
        ca_not_after,
    ))
}

/// A TLS server certificate for the guestbook listener: DNS SAN hostname plus IP SAN 127.0.0.1.
pub fn server_params(
    hostname: &str,
    now: OffsetDateTime,
    validity: Duration,
    ca_not_after: OffsetDateTime,
) -> Result<CertificateParams> {
    let sans = vec![
        SanType::DnsName(hostname.try_into().map_err(pki_err)?),
        SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])),
    ];
    Ok(end_entity(
        hostname,
        sans,
        ExtendedKeyUsagePurpose::ServerAuth,
        now,
        validity,
        ca_not_after,
    ))
}

/// Sign `params` with a fresh P-256 key under the CA given as PEM.
pub fn sign_with_new_key(params: &CertificateParams, ca: &KeyedCert) -> Result<KeyedCert> {
    CaSigner::new(ca)?.sign_with_new_key(params)
}

/// A CA ready to sign: its key and certificate parsed once, not per leaf (parsing both
/// costs more than generating the leaf's key and signing it).
pub struct CaSigner {
    issuer: Issuer<'static, KeyPair>,
}

impl CaSigner {
    /// Parse the CA's key and certificate.
    pub fn new(ca: &KeyedCert) -> Result<Self> {
        let key = KeyPair::from_pem(&ca.key_pem).map_err(pki_err)?;
        let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, key).map_err(pki_err)?;
        Ok(CaSigner { issuer })
    }

    /// A new P-256 key and a certificate for it, signed by this CA.
    pub fn sign_with_new_key(&self, params: &CertificateParams) -> Result<KeyedCert> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(pki_err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(pki_err)?;
        Ok(KeyedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem().into(),
        })
    }
}

/// All PEM blocks labelled CERTIFICATE in `pem`, as DER.
pub fn pem_certs(pem: &str) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for p in Pem::iter_from_buffer(pem.as_bytes()) {
        let p = p.map_err(pki_err)?;
        if p.label == "CERTIFICATE" {
            out.push(p.contents);
        }
    }
    if out.is_empty() {
        return Err(Error::Pki("no certificate in PEM".into()));
    }
    Ok(out)
}

/// DER to PEM.
pub fn der_to_pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

/// SHA-256 of DER bytes.
pub fn sha256(der: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// `AB:CD:...` uppercase hex with colons, as openssl prints fingerprints.
pub fn colon_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// What the pages, tickets and logs show about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    /// Subject DN, RFC 4514 style.
    pub subject: String,
    /// Subject common name.
    pub common_name: String,
    /// Issuer DN.
    pub issuer: String,
    /// Issuer common name.
    pub issuer_cn: String,
    /// Serial as colon hex.
    pub serial: String,
    /// SHA-256 fingerprint of the DER.
    pub fingerprint: [u8; 32],
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// rfc822Name SANs.
    pub emails: Vec<String>,
    /// Whether BasicConstraints says CA.
    pub is_ca: bool,
}

impl CertSummary {
    /// Summarise the first certificate in a PEM string.
    pub fn parse(pem: &str) -> Result<Self> {
        let der = pem_certs(pem)?.remove(0);
        Self::from_der(&der)
    }

    /// Summarise DER.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let (_, c) = X509Certificate::from_der(der).map_err(pki_err)?;
        let cn = |n: &X509Name| {
            n.iter_common_name()
                .next()
                .and_then(|a| a.as_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let emails = c
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|g| match g {
                        GeneralName::RFC822Name(e) => Some(e.to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(CertSummary {
            subject: c.subject().to_string(),
            common_name: cn(c.subject()),
            issuer: c.issuer().to_string(),
            issuer_cn: cn(c.issuer()),
            serial: colon_hex(c.raw_serial()),
            fingerprint: sha256(der),
            not_before: c.validity().not_before.to_datetime(),
            not_after: c.validity().not_after.to_datetime(),
            emails,
            is_ca: c.is_ca(),
        })
    }

    /// The fingerprint as colon hex.
    pub fn fingerprint_hex(&self) -> String {
        colon_hex(&self.fingerprint)
    }
}

/// Check that `chain_pem` (leaf first, then intermediates) verifies up to `root_pem`
/// by signature and validity at `now`.
pub fn verify_chain(chain_pem: &str, root_pem: &str, now: OffsetDateTime) -> Result<()> {
    let mut ders = pem_certs(chain_pem)?;
    ders.push(pem_certs(root_pem)?.remove(0));
    let certs: Vec<X509Certificate> = ders
        .iter()
        .map(|d| X509Certificate::from_der(d).map(|(_, c)| c).map_err(pki_err))
        .collect::<Result<_>>()?;
    let at = ASN1Time::from(now);
    for (i, c) in certs.iter().enumerate() {
        if !c.validity().is_valid_at(at) {
            return Err(Error::Pki(format!("certificate {i} of the chain is not valid now")));
        }
        let parent = certs.get(i + 1).unwrap_or(c);
        if i > 0 && !parent.is_ca() {
            return Err(Error::Pki("chain contains a non-CA issuer".into()));
        }
        c.verify_signature(Some(parent.public_key()))
            .map_err(|_| Error::Pki(format!("certificate {i} of the chain is not signed by the next one")))?;
        if c.issuer() != parent.subject() {
            return Err(Error::Pki(format!(
                "certificate {i}'s issuer does not match the next subject"
            )));
        }
    }
    Ok(())
}

/// Whether a PKCS#8 private key PEM belongs to the certificate PEM (compares public keys).
pub fn key_matches_cert(key_pem: &str, cert_pem: &str) -> Result<bool> {
    let key = KeyPair::from_pem(key_pem).map_err(pki_err)?;
    let der = pem_certs(cert_pem)?.remove(0);
    let (_, c) = X509Certificate::from_der(&der).map_err(pki_err)?;
    Ok(c.public_key().subject_public_key.data.as_ref() == key.public_key_raw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::ParsedExtension;

    fn chain() -> (KeyedCert, KeyedCert, KeyedCert) {
        let now = OffsetDateTime::now_utc();
        let root = new_root(now, 20).unwrap();
        let int = new_intermediate(&root, "KubeCon EU", "kc-eu", "Amsterdam", now, 10).unwrap();
        let ca_end = CertSummary::parse(&int.cert_pem).unwrap().not_after;
        let p = leaf_params("Zoë Ørsted 李", "zoe@example.org", now, Duration::days(365), ca_end).unwrap();
        let leaf = sign_with_new_key(&p, &int).unwrap();
        (root, int, leaf)
    }

    #[test]
    fn leaf_profile_has_every_field() {
        let (root, int, leaf) = chain();
        let der = pem_certs(&leaf.cert_pem).unwrap().remove(0);
        let (_, c) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(
            c.subject().iter_common_name().next().unwrap().as_str().unwrap(),
            "Zoë Ørsted 李"
        );
        assert!(c.raw_serial().len() >= 8);
        let mut seen = 0;
        for ext in c.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::KeyUsage(ku) => {
                    assert!(ext.critical);
                    assert!(ku.digital_signature() && !ku.key_cert_sign());
                    seen += 1;
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    assert!(eku.client_auth && !eku.server_auth);
                    seen += 1;
                }
                ParsedExtension::BasicConstraints(bc) => {
                    assert!(!bc.ca);
                    seen += 1;
                }
                ParsedExtension::SubjectKeyIdentifier(_) | ParsedExtension::AuthorityKeyIdentifier(_) => seen += 1,
                ParsedExtension::SubjectAlternativeName(san) => {
                    assert_eq!(san.general_names, vec![GeneralName::RFC822Name("zoe@example.org")]);
                    seen += 1;
                }
                _ => {}
            }
        }
        assert_eq!(seen, 6);
        assert_eq!(
            c.public_key()
                .algorithm
                .parameters
                .as_ref()
                .unwrap()
                .as_oid()
                .unwrap()
                .to_id_string(),
            "1.2.840.10045.3.1.7"
        );
        let full = format!("{}{}", leaf.cert_pem, int.cert_pem);
        verify_chain(&full, &root.cert_pem, OffsetDateTime::now_utc()).unwrap();
        assert!(key_matches_cert(&leaf.key_pem, &leaf.cert_pem).unwrap());
        assert!(!key_matches_cert(&int.key_pem, &leaf.cert_pem).unwrap());
        // Without the intermediate the chain does not verify to the root.
        assert!(verify_chain(&leaf.cert_pem, &root.cert_pem, OffsetDateTime::now_utc()).is_err());
    }

    #[test]
    fn ca_path_lengths_and_capping() {
        let now = OffsetDateTime::now_utc();
        let root = new_root(now, 20).unwrap();
        let int = new_intermediate(&root, "C", "c", "X", now, 1).unwrap();
        for (pem, want) in [(&root.cert_pem, 1u32), (&int.cert_pem, 0)] {
            let der = pem_certs(pem).unwrap().remove(0);
            let (_, c) = X509Certificate::from_der(&der).unwrap();
            let bc = c.basic_constraints().unwrap().unwrap().value;
            assert!(bc.ca);
            assert_eq!(bc.path_len_constraint, Some(want));
        }
        let int_end = CertSummary::parse(&int.cert_pem).unwrap().not_after;
        let p = leaf_params("A", "a@b.de", now, Duration::days(5000), int_end).unwrap();
        let leaf = sign_with_new_key(&p, &int).unwrap();
        assert_eq!(CertSummary::parse(&leaf.cert_pem).unwrap().not_after, int_end);
        let s = CertSummary::parse(&leaf.cert_pem).unwrap();
        assert_eq!(s.issuer_cn, "C intermediate CA");
        assert_eq!(s.emails, vec!["a@b.de".to_string()]);
        assert!(!s.is_ca);
    }
}
