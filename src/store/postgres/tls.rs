//! The database URL: libpq's `sslmode` and `sslrootcert` read here, TLS through rustls
//! (ring). `require`, `verify-ca` and `verify-full` all verify the server's chain and
//! name against `sslrootcert` (PEM; the system's roots without it): stricter than
//! libpq's `require`, never weaker. No `sslmode` (or `disable`/`prefer`) is plain TCP,
//! fine on loopback or a Unix socket.

use std::str::FromStr;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
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
    let tls_wanted = match mode.as_deref() {
        None | Some("disable") | Some("allow") | Some("prefer") => false,
        Some("require") | Some("verify-ca") | Some("verify-full") => true,
        Some(other) => return Err(bad(&format!("unknown sslmode {other:?}"))),
    };
    config.ssl_mode(if tls_wanted { SslMode::Require } else { SslMode::Disable });
    let roots = if tls_wanted {
        roots(root_file.as_deref())?
    } else {
        RootCertStore::empty()
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((config, MakeRustlsConnect::new(client)))
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
