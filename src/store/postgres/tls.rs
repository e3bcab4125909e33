//! The database URL: libpq's `sslmode` and `sslrootcert` read here, TLS through rustls
//! (ring). `verify-full` checks the server's chain against `sslrootcert` (PEM; the
//! system's roots without it) and that the certificate names the host in the URL;
//! `verify-ca` and `require` check the chain only (libpq's `require` checks nothing
//! without a root file; here a connection that asks for TLS always verifies the CA). No
//! `sslmode` (or `disable`/`allow`/`prefer`) is plain TCP, fine on loopback or a Unix socket.

use std::str::FromStr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{Error, Result};

/// The connection settings and the TLS connector for `url`.
pub(super) fn parse(url: &str) -> Result<(tokio_postgres::Config, MakeRustlsConnect)> {
    let bad = |e: &dyn std::fmt::Display| Error::Invalid(format!("the database URL is not valid: {e}"));
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut mode, mut root_file, mut rest) = (None, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("sslmode", v)) => mode = Some(v.to_string()),
            Some(("sslrootcert", v)) => root_file = Some(v.to_string()),
            _ => rest.push(pair),
        }
    }
    let kept = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    let mut config = tokio_postgres::Config::from_str(&kept).map_err(|e| bad(&e))?;
    // (TLS wanted, the certificate must name the host)
    let (tls_wanted, check_name) = match mode.as_deref() {
        None | Some("disable") | Some("allow") | Some("prefer") => (false, false),
        Some("require") | Some("verify-ca") => (true, false),
        Some("verify-full") => (true, true),
        Some(other) => return Err(bad(&format!("unknown sslmode {other:?}"))),
    };
    config.ssl_mode(if tls_wanted { SslMode::Require } else { SslMode::Disable });
    let tls_error = |e: &dyn std::fmt::Display| Error::Internal(format!("TLS: {e}"));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(&e))?;
    if !tls_wanted {
        // Never used: tokio-postgres asks for TLS only under SslMode::Require.
        let plain = builder.with_root_certificates(RootCertStore::empty());
        return Ok((config, MakeRustlsConnect::new(plain.with_no_client_auth())));
    }
    let chain = WebPkiServerVerifier::builder_with_provider(Arc::new(roots(root_file.as_deref())?), provider)
        .build()
        .map_err(|e| tls_error(&e))?;
    let client = if check_name {
        builder.with_webpki_verifier(chain)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ChainOnly(chain)))
    };
    Ok((config, MakeRustlsConnect::new(client.with_no_client_auth())))
}

/// A clear error for a connection that failed in TLS (the server's certificate, most
/// likely), or that the server refused for want of TLS; `None` for anything else.
pub(super) fn failure(e: &tokio_postgres::Error) -> Option<String> {
    if let Some(db) = e.as_db_error()
        && db.code() == &tokio_postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        && db.message().contains("no encryption")
    {
        return Some(format!(
            "{}: the database server takes TLS connections only; add \
             ?sslmode=verify-full&sslrootcert=<its CA certificate, PEM> to the database URL",
            db.message()
        ));
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cause {
        // tokio-rustls hands rustls' error up inside an io::Error.
        let inner = c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<rustls::Error>());
        if let Some(tls) = c.downcast_ref::<rustls::Error>().or(inner) {
            return Some(format!(
                "TLS to the database failed: {tls}; the server's certificate must be signed by a CA in \
                 the URL's sslrootcert= file (and, for sslmode=verify-full, name the host in the URL)"
            ));
        }
        cause = c.source();
    }
    None
}

/// `verify-ca`: the chain up to `sslrootcert` must verify; the name in the certificate
/// need not match the host dialled (the name is checked only after the chain, so a
/// name error means the chain was good).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn roots(file: Option<&str>) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    match file {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| Error::Invalid(format!("cannot read the database's sslrootcert {path}: {e}")))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| Error::Invalid(format!("sslrootcert {path}: {e}")))?;
                store
                    .add(cert)
                    .map_err(|e| Error::Invalid(format!("sslrootcert {path}: {e}")))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = store.add(cert);
            }
        }
    }
    if store.is_empty() {
        return Err(Error::Invalid(
            "the database URL asks for TLS but no root certificate was found (set sslrootcert=<file>)".into(),
        ));
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_words_pick_tls_or_plain() {
        let (c, _) = parse("postgres://u:p@127.0.0.1:5/db").unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
        assert_eq!(c.get_dbname(), Some("db"));
        let (c, _) = parse("postgres://u@h/db?sslmode=disable&application_name=x").unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Disable);
        assert!(parse("postgres://u@h/db?sslmode=sometimes").is_err());
        let missing = parse("postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
        assert!(matches!(missing, Err(Error::Invalid(m)) if m.contains("sslrootcert")));
        assert!(parse("not a url").is_err());
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod live;
