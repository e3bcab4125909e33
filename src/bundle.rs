//! The downloadable zip: cert, chain, root, key, PKCS#12 and a README that explains
//! each file with commands that work as printed. Pure: bytes in, bytes out.

use std::io::Write;

use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use zip::write::SimpleFileOptions;

use crate::error::{Error, Result};
use crate::pki::{self, pem_certs};

/// Everything that goes into a visitor's zip.
pub struct BundleInput<'a> {
    /// Visitor name (for the README and the p12 friendly name).
    pub name: &'a str,
    /// Leaf PEM.
    pub cert_pem: &'a str,
    /// Intermediates PEM.
    pub intermediates_pem: &'a str,
    /// Root PEM.
    pub root_pem: &'a str,
    /// PKCS#8 key PEM.
    pub key_pem: &'a str,
    /// Password for certificate.p12.
    pub p12_password: &'a str,
    /// Guestbook sign URL (`https://HOST:8443/sign`) for the README.
    pub guestbook_url: &'a str,
}

/// The file names inside the zip, in order.
pub const FILES: [&str; 6] = [
    "cert.pem",
    "chain.pem",
    "ca.pem",
    "key.pem",
    "certificate.p12",
    "README.txt",
];

/// Build a PKCS#12 (PBES2/AES-256, HMAC-SHA-256) with the key, leaf, intermediates and root.
pub fn pkcs12(input: &BundleInput<'_>) -> Result<Vec<u8>> {
    let key_der = pem::private_key_der(input.key_pem)?;
    let mut certs = Vec::new();
    for der in pem_certs(input.cert_pem)?
        .into_iter()
        .chain(pem_certs(input.intermediates_pem)?)
        .chain(pem_certs(input.root_pem)?)
    {
        certs.push(Certificate::from_der(&der).map_err(|e| Error::Pki(format!("p12 cert: {e}")))?);
    }
    let leaf_fp = pki::sha256(&pem_certs(input.cert_pem)?[0]);
    let key = PrivateKey::from_der(&key_der).map_err(|e| Error::Pki(format!("p12 key: {e}")))?;
    let chain = PrivateKeyChain::new(leaf_fp.to_vec(), key, certs);
    let mut ks = KeyStore::new();
    ks.add_entry(input.name, KeyStoreEntry::PrivateKeyChain(chain));
    ks.writer(input.p12_password)
        .write()
        .map_err(|e| Error::Pki(format!("p12: {e}")))
}

mod pem {
    use crate::error::{Error, Result};
    use x509_parser::pem::Pem;

    pub fn private_key_der(pem: &str) -> Result<Vec<u8>> {
        for p in Pem::iter_from_buffer(pem.as_bytes()) {
            let p = p.map_err(|e| Error::Pki(e.to_string()))?;
            if p.label == "PRIVATE KEY" {
                return Ok(p.contents);
            }
        }
        Err(Error::Pki("no PKCS#8 private key".into()))
    }
}

/// The README.txt text.
pub fn readme(input: &BundleInput<'_>) -> String {
    format!(
        "Your certstamp client certificate ({name})
==========================================

cert.pem         your certificate (the leaf) on its own
chain.pem        your certificate followed by the conference intermediate CA:
                 what a TLS client must send to prove who it is
ca.pem           the booth root CA: the only certificate a server needs to trust
key.pem          your private key (PKCS#8). Keep it secret.
certificate.p12  certificate, key and chain in one file for browsers and
                 keychains. Its password is shown on your certificate page.

Check the certificate chains to the booth root:

    openssl verify -CAfile ca.pem -untrusted chain.pem cert.pem

The booth root's SHA-256 fingerprint, which the booth's pages and its archive
after the event also show (compare before you trust a ca.pem):

    {root_fingerprint}

    openssl x509 -in ca.pem -noout -fingerprint -sha256
    certstamp verify cert.pem --chain chain.pem --root ca.pem

Look inside:

    openssl x509 -in cert.pem -noout -text

Sign the booth guestbook with it over mutual TLS (earns a star):

    curl --cacert ca.pem --cert chain.pem --key key.pem -d message=hello {guestbook}

or import certificate.p12 into your browser and open {guestbook_page}
Entries are public: they show your message and your first name, never your
email. To show another name, add  -d name=Ada  to the command.
",
        name = input.name,
        root_fingerprint = pem_certs(input.root_pem)
            .map(|d| pki::colon_hex(&pki::sha256(&d[0])))
            .unwrap_or_else(|_| "(ca.pem is not readable)".into()),
        guestbook = input.guestbook_url,
        guestbook_page = input.guestbook_url.trim_end_matches("sign"),
    )
}

/// Build the zip. Key files are mode 0600 inside the archive.
pub fn zip(input: &BundleInput<'_>) -> Result<Vec<u8>> {
    let p12 = pkcs12(input)?;
    let chain = format!("{}{}", input.cert_pem, input.intermediates_pem);
    let readme = readme(input);
    let files: [(&str, &[u8], u32); 6] = [
        ("cert.pem", input.cert_pem.as_bytes(), 0o644),
        ("chain.pem", chain.as_bytes(), 0o644),
        ("ca.pem", input.root_pem.as_bytes(), 0o644),
        ("key.pem", input.key_pem.as_bytes(), 0o600),
        ("certificate.p12", &p12, 0o600),
        ("README.txt", readme.as_bytes(), 0o644),
    ];
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let now = time::OffsetDateTime::now_utc();
    let stamp = zip::DateTime::try_from(time::PrimitiveDateTime::new(now.date(), now.time())).unwrap_or_default();
    for (name, bytes, mode) in files {
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode)
            .last_modified_time(stamp);
        w.start_file(name, opts).map_err(Error::internal)?;
        w.write_all(bytes)?;
    }
    Ok(w.finish().map_err(Error::internal)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issuer::{LeafRequest, local::LocalIssuer};
    use std::io::Read;

    #[test]
    fn zip_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let today = time::OffsetDateTime::now_utc().date();
        let conf = crate::config::Conference {
            name: "C".into(),
            slug: "c".into(),
            city: "X".into(),
            start: today,
            end: today,
            leaf_validity_days: 1,
            retention_days: 1,
        };
        let ca = LocalIssuer::open(dir.path(), &conf).unwrap();
        let issued = ca
            .sign(&LeafRequest {
                visitor_id: "v".into(),
                name: "Ada".into(),
                email: "a@b.de".into(),
            })
            .unwrap();
        let input = BundleInput {
            name: "Ada",
            cert_pem: &issued.leaf.cert_pem,
            intermediates_pem: &issued.intermediates_pem,
            root_pem: &issued.root_pem,
            key_pem: &issued.leaf.key_pem,
            p12_password: "pw",
            guestbook_url: "https://localhost:8443/sign",
        };
        let bytes = zip(&input).unwrap();
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let names: Vec<String> = (0..z.len())
            .map(|i| z.by_index(i).unwrap().name().unwrap().to_string())
            .collect();
        assert_eq!(names, FILES);
        let mut chain = String::new();
        z.by_name("chain.pem").unwrap().read_to_string(&mut chain).unwrap();
        assert_eq!(chain, issued.chain_pem());
        let mut readme = String::new();
        z.by_name("README.txt").unwrap().read_to_string(&mut readme).unwrap();
        let root = crate::pki::CertSummary::parse(&issued.root_pem).unwrap();
        assert!(readme.contains(&root.fingerprint_hex()), "{readme}");
        assert_eq!(z.by_name("key.pem").unwrap().unix_mode().unwrap() & 0o777, 0o600);
        let mut p12 = Vec::new();
        z.by_name("certificate.p12").unwrap().read_to_end(&mut p12).unwrap();
        let ks = KeyStore::from_pkcs12(&p12, "pw", p12_keystore::Pkcs12ImportPolicy::default()).unwrap();
        let (_, chain) = ks.private_key_chain().unwrap();
        assert_eq!(chain.certs().len(), 3);
        assert!(KeyStore::from_pkcs12(&p12, "wrong", p12_keystore::Pkcs12ImportPolicy::default()).is_err());
    }
}
