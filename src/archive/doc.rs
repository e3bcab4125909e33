//! One certificate's document in the archive, and how a visitor's link finds it.
//!
//! The archive is written from the database, which keeps only `token_hash` (see
//! [`crate::token::Token::lookup_hash`]), and read by a browser that holds the token
//! from the QR code. Both sides derive, from that hash:
//! - the document's name: SHA-256 over a domain-separated prefix and the hash, in hex;
//! - an AES-256-GCM key: SHA-256 over another prefix and the hash.
//!
//! The leaf certificate carries the visitor's email as its rfc822Name, so the document is
//! encrypted: only a link holder can read it, even when the whole site is public (a Pages
//! repository, a listable bucket). Neither the token nor its hash appears in the site.
//! The contents are deflated first (the seal's SVG is most of them and shrinks about
//! fourfold). The nonce is derived from the plaintext, so re-archiving unchanged data
//! writes identical files. `assets/verify.js` implements the reading side.

use base64::Engine as _;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const NAME_PREFIX: &[u8] = b"certstamp archive name v1\0";
const KEY_PREFIX: &[u8] = b"certstamp archive key v1\0";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn sha256(prefix: &[u8], token_hash: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(prefix);
    ctx.update(token_hash);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The document's file name (without `.json`) for a visitor's token hash.
pub fn name(token_hash: &[u8]) -> String {
    crate::token::hex(&sha256(NAME_PREFIX, token_hash))
}

fn key(token_hash: &[u8]) -> LessSafeKey {
    let k = zeroize::Zeroizing::new(sha256(KEY_PREFIX, token_hash));
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &k[..]).expect("32-byte key"))
}

/// Whether staff voided the certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Issued and not voided.
    Valid,
    /// Voided by booth staff.
    Voided,
}

/// What a link holder reads: the public certificate, its chain and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contents {
    /// Format version.
    pub v: u8,
    /// Conference slug.
    pub conference: String,
    /// Valid or voided.
    pub state: State,
    /// When it was voided, RFC 3339.
    pub voided_at: Option<String>,
    /// Leaf then intermediates, base64 DER.
    pub chain: Vec<String>,
    /// The booth root, base64 DER.
    pub root: String,
    /// The certificate's seal, an inline SVG drawn from its fingerprint.
    pub seal: String,
}

/// The file as published: `{"v":1,"alg":"A256GCM","zip":"DEF","iv":…,"data":…}`
/// (`zip` as in JWE: raw DEFLATE before encryption).
#[derive(Debug, Serialize, Deserialize)]
struct Sealed {
    v: u8,
    alg: String,
    zip: String,
    iv: String,
    data: String,
}

/// Encrypt `contents` for the holder of the token behind `token_hash`.
/// Returns the document's name and its JSON text.
pub fn seal(token_hash: &[u8], contents: &Contents) -> Result<(String, String)> {
    use std::io::Write as _;
    let name = name(token_hash);
    let json = serde_json::to_vec(contents).map_err(Error::internal)?;
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    deflate.write_all(&json)?;
    let mut buf = deflate.finish()?;
    let nonce_key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        &sha256(b"certstamp archive iv v1\0", token_hash),
    );
    let mut iv = [0u8; 12];
    iv.copy_from_slice(&ring::hmac::sign(&nonce_key, &buf).as_ref()[..12]);
    key(token_hash)
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(iv), Aad::from(name.as_bytes()), &mut buf)
        .map_err(|_| Error::Internal("cannot encrypt an archive document".into()))?;
    let sealed = Sealed {
        v: 1,
        alg: "A256GCM".into(),
        zip: "DEF".into(),
        iv: B64.encode(iv),
        data: B64.encode(&buf),
    };
    Ok((name, serde_json::to_string(&sealed).map_err(Error::internal)?))
}

/// Decrypt a document with the token hash (what the browser does), for tests and tools.
pub fn open(token_hash: &[u8], json: &str) -> Result<Contents> {
    let bad = || Error::Invalid("not a certstamp archive document for this link".into());
    let sealed: Sealed = serde_json::from_str(json).map_err(|_| bad())?;
    if (sealed.v, sealed.alg.as_str(), sealed.zip.as_str()) != (1, "A256GCM", "DEF") {
        return Err(bad());
    }
    let iv: [u8; 12] = B64
        .decode(&sealed.iv)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(bad)?;
    let mut buf = B64.decode(&sealed.data).map_err(|_| bad())?;
    let name = name(token_hash);
    let plain = key(token_hash)
        .open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(name.as_bytes()), &mut buf)
        .map_err(|_| bad())?;
    serde_json::from_reader(flate2::read::DeflateDecoder::new(&plain[..])).map_err(|_| bad())
}

/// Base64 (standard, padded) of DER, as the documents carry certificates.
pub fn b64(der: &[u8]) -> String {
    B64.encode(der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::Token;

    fn contents(state: State) -> Contents {
        Contents {
            v: 1,
            conference: "kc-eu".into(),
            state,
            voided_at: None,
            chain: vec![b64(b"leaf"), b64(b"int")],
            root: b64(b"root"),
            seal: "<svg/>".into(),
        }
    }

    #[test]
    fn round_trip_only_with_the_right_token() {
        let t = Token::generate();
        let (name, json) = seal(&t.lookup_hash(), &contents(State::Valid)).unwrap();
        assert_eq!(name.len(), 64);
        assert!(name.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(open(&t.lookup_hash(), &json).unwrap(), contents(State::Valid));
        assert!(open(&Token::generate().lookup_hash(), &json).is_err());
        // Neither the token nor its stored hash is in the name or the file.
        let hash_hex = crate::token::hex(&t.lookup_hash());
        for text in [&name, &json] {
            assert!(!text.contains(t.as_str()) && !text.contains(&hash_hex));
        }
        assert!(!json.contains("kc-eu"), "contents are encrypted");
    }

    #[test]
    fn same_contents_same_file_and_a_change_changes_the_nonce() {
        let h = Token::generate().lookup_hash();
        let (_, a) = seal(&h, &contents(State::Valid)).unwrap();
        let (_, b) = seal(&h, &contents(State::Valid)).unwrap();
        let (_, c) = seal(&h, &contents(State::Voided)).unwrap();
        assert_eq!(a, b);
        let iv = |j: &str| serde_json::from_str::<Sealed>(j).unwrap().iv;
        assert_ne!(iv(&a), iv(&c));
        assert_eq!(open(&h, &c).unwrap().state, State::Voided);
    }

    #[test]
    fn a_changed_document_does_not_open() {
        let h = Token::generate().lookup_hash();
        let (_, json) = seal(&h, &contents(State::Voided)).unwrap();
        let mut doc: Sealed = serde_json::from_str(&json).unwrap();
        let mut data = B64.decode(&doc.data).unwrap();
        data[0] ^= 1;
        doc.data = B64.encode(&data);
        assert!(open(&h, &serde_json::to_string(&doc).unwrap()).is_err());
    }
}
