//! Certificate revocation lists: a voided certificate is listed, by serial, in its
//! conference's CRL, signed by that conference's intermediate. Pure: the caller brings
//! the signer, the voided serials and the clock (the kiosk serves it at
//! `/crl/{slug}.crl`; an archive can write the same bytes to a file).

use ::time::{Duration, OffsetDateTime};
use rcgen::{CertificateRevocationListParams, Issuer, KeyIdMethod, KeyPair, RevokedCertParams, SerialNumber};

use crate::error::{Error, Result};
use crate::pki::KeyedCert;

/// How long a CRL is good for: short, so a void reaches relying parties quickly. The
/// kiosk signs a new one on every void and whenever the one it has is a sixth gone.
pub const LIFETIME: Duration = Duration::hours(1);

/// One voided certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// Its serial as colon hex (`7F:01:...`), as the store keeps it.
    pub serial: String,
    /// When staff voided it (Unix seconds).
    pub revoked_at: i64,
}

/// A signed CRL in both encodings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crl {
    /// DER, for `/crl/{slug}.crl`.
    pub der: Vec<u8>,
    /// PEM (`X509 CRL`), for `/crl/{slug}.pem` and `openssl -CRLfile`.
    pub pem: String,
    /// Its thisUpdate.
    pub this_update: OffsetDateTime,
}

/// The bytes of a colon-hex serial; `None` when it is not hex.
fn serial_bytes(colon_hex: &str) -> Option<Vec<u8>> {
    colon_hex
        .split(':')
        .map(|h| (h.len() == 2).then(|| u8::from_str_radix(h, 16).ok()).flatten())
        .collect()
}

/// Sign a CRL listing `revoked` with the conference intermediate `signer`, valid from
/// `now` until `next_update` (the kiosk: [`LIFETIME`] from now; an archive, whose list
/// will not change again: the intermediate's end). `number` must grow with every CRL of
/// this signer.
pub fn build(
    signer: &KeyedCert,
    revoked: &[Revoked],
    now: OffsetDateTime,
    next_update: OffsetDateTime,
    number: u64,
) -> Result<Crl> {
    let pki = |e: rcgen::Error| Error::Pki(format!("CRL: {e}"));
    let key = KeyPair::from_pem(&signer.key_pem).map_err(pki)?;
    let issuer = Issuer::from_ca_cert_pem(&signer.cert_pem, key).map_err(pki)?;
    let revoked_certs = revoked
        .iter()
        .map(|r| {
            let serial = serial_bytes(&r.serial)
                .ok_or_else(|| Error::Internal(format!("stored serial {:?} is not colon hex", r.serial)))?;
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&serial),
                revocation_time: OffsetDateTime::from_unix_timestamp(r.revoked_at).unwrap_or(now),
                reason_code: None,
                invalidity_date: None,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // Whole seconds: the encoding drops the rest, and callers compare with what they parse.
    let now = now.replace_nanosecond(0).unwrap_or(now);
    let next_update = next_update.replace_nanosecond(0).unwrap_or(next_update);
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update,
        crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(&issuer).map_err(pki)?;
    Ok(Crl {
        der: crl.der().to_vec(),
        pem: crl.pem().map_err(pki)?,
        this_update: now,
    })
}

/// A CRL number above every earlier one of the kiosk's and the archive's, also across
/// restarts: the clock in milliseconds (the caller keeps it growing within one process).
pub fn clock_number(now: OffsetDateTime) -> u64 {
    u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// Whether a CRL signed at `this_update` should be signed again before serving it.
pub fn is_stale(this_update: OffsetDateTime, now: OffsetDateTime) -> bool {
    now - this_update >= LIFETIME / 6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki;
    use x509_parser::prelude::*;

    #[test]
    fn lists_the_voided_serials_signed_by_the_intermediate() {
        let now = OffsetDateTime::now_utc();
        let root = pki::new_root(now, 20).unwrap();
        let int = pki::new_intermediate(&root, "C", "c", "X", now, 1).unwrap();
        let revoked = [
            Revoked {
                serial: "7F:01:AB".into(),
                revoked_at: 1_800_000_000,
            },
            Revoked {
                serial: "01:02".into(),
                revoked_at: 1_800_000_100,
            },
        ];
        let crl = build(&int, &revoked, now, now + LIFETIME, 42).unwrap();
        assert!(crl.pem.starts_with("-----BEGIN X509 CRL-----"));
        let (_, parsed) = CertificateRevocationList::from_der(&crl.der).unwrap();
        let serials: Vec<String> = parsed
            .iter_revoked_certificates()
            .map(|r| pki::colon_hex(r.raw_serial()))
            .collect();
        assert_eq!(serials, ["7F:01:AB", "01:02"]);
        assert_eq!(parsed.crl_number().unwrap().to_string(), "42");
        let int_der = pki::pem_certs(&int.cert_pem).unwrap().remove(0);
        let (_, int_cert) = X509Certificate::from_der(&int_der).unwrap();
        assert_eq!(parsed.issuer(), int_cert.subject());
        parsed.verify_signature(int_cert.public_key()).unwrap();
        let next = parsed.next_update().unwrap().to_datetime();
        assert_eq!(next - parsed.last_update().to_datetime(), LIFETIME);
        // Another intermediate's key does not verify it.
        let other = pki::new_intermediate(&root, "D", "d", "X", now, 1).unwrap();
        let other_der = pki::pem_certs(&other.cert_pem).unwrap().remove(0);
        let (_, other_cert) = X509Certificate::from_der(&other_der).unwrap();
        assert!(parsed.verify_signature(other_cert.public_key()).is_err());
    }

    #[test]
    fn an_empty_list_is_a_valid_crl_and_bad_serials_are_errors() {
        let now = OffsetDateTime::now_utc();
        let root = pki::new_root(now, 20).unwrap();
        let int = pki::new_intermediate(&root, "C", "c", "X", now, 1).unwrap();
        let crl = build(&int, &[], now, now + LIFETIME, 1).unwrap();
        let (_, parsed) = CertificateRevocationList::from_der(&crl.der).unwrap();
        assert_eq!(parsed.iter_revoked_certificates().count(), 0);
        let bad = Revoked {
            serial: "zz".into(),
            revoked_at: 0,
        };
        assert!(build(&int, &[bad], now, now + LIFETIME, 2).is_err());
        assert!(build(&int, &[], now, now, 3).is_err(), "nextUpdate after thisUpdate");
        assert_eq!(serial_bytes("0A:FF"), Some(vec![0x0a, 0xff]));
        assert_eq!(serial_bytes("A:FF"), None);
    }

    #[test]
    fn staleness() {
        let t = OffsetDateTime::UNIX_EPOCH;
        assert!(!is_stale(t, t + Duration::minutes(9)));
        assert!(is_stale(t, t + Duration::minutes(10)));
    }
}
