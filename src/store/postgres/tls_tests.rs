//! TLS against a live server: a private cluster with `ssl = on` and `hostssl` only, its
//! certificate made by the real `openssl` under a private CA, and the store's own pool.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::error::Error;
use crate::store::Store;
use crate::store::tests::testserver::{PgServer, TlsFiles};
use crate::store::visitors::NewVisitor;
use crate::token::Token;

/// Runs `openssl` with `args` (split at spaces) in `dir`.
fn openssl(dir: &Path, args: &str) {
    let out = Command::new("openssl")
        .args(args.split(' '))
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl: {e}; install it with `apt-get install openssl`"));
    assert!(
        out.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const P256: &str = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

/// A CA (`{name}.crt`, `{name}.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &format!(
            "req -x509 {P256} -days 2 -keyout {name}.key -out {name}.crt -subj /CN={name} \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
        ),
    );
}

/// A server certificate `{name}.crt` (with key) for `san`, signed by CA `ca`.
fn make_server_cert(dir: &Path, ca: &str, name: &str, san: &str) {
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!("subjectAltName={san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"),
    )
    .unwrap();
    openssl(
        dir,
        &format!("req {P256} -keyout {name}.key -out {name}.csr -subj /CN=certstamp-test-db"),
    );
    openssl(
        dir,
        &format!(
            "x509 -req -in {name}.csr -CA {ca}.crt -CAkey {ca}.key -CAcreateserial -days 2 \
             -out {name}.crt -extfile {name}.ext"
        ),
    );
}

/// A TLS-only server whose certificate names `san`, and the directory holding `ca.crt`
/// (its CA) and `other-ca.crt` (a CA that did not sign it).
fn tls_server(san: &str) -> (PgServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    make_ca(dir.path(), "ca");
    make_ca(dir.path(), "other-ca");
    make_server_cert(dir.path(), "ca", "server", san);
    let server = PgServer::start_tls(TlsFiles {
        cert: &dir.path().join("server.crt"),
        key: &dir.path().join("server.key"),
    });
    (server, dir)
}

fn with_tls(url: &str, mode: &str, root: &Path) -> String {
    format!("{url}?sslmode={mode}&sslrootcert={}", root.display())
}

/// Connecting must end, with an error or a store, well within this.
async fn connect(url: &str) -> crate::error::Result<Store> {
    tokio::time::timeout(Duration::from_secs(30), Store::connect(url))
        .await
        .expect("connecting hung")
}

async fn works(store: &Store) {
    let v = NewVisitor {
        id: "tls".into(),
        conference: "c".into(),
        name: "Ada".into(),
        email: "ada@tls.example".into(),
        email_lc: "ada@tls.example".into(),
        issuer_kind: "local".into(),
        backend_ref: None,
        retention_until: crate::store::now_ts() + 3600,
        show_on_wall: false,
    };
    store.insert_visitor(v, &Token::generate()).await.unwrap();
    let back = store.visitor_by_id("tls").await.unwrap().unwrap();
    assert_eq!(back.email.as_deref(), Some("ada@tls.example"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_a_hostssl_only_server_verifies_the_ca_and_the_name() {
    let (server, dir) = tls_server("IP:127.0.0.1,DNS:localhost");
    let url = server.fresh_database();
    let (ca, other) = (dir.path().join("ca.crt"), dir.path().join("other-ca.crt"));

    // The right CA: the store works over TLS (the server says the session is encrypted).
    let store = connect(&with_tls(&url, "verify-full", &ca)).await.unwrap();
    works(&store).await;
    let encrypted = server.psql(
        url.rsplit('/').next().unwrap(),
        "SELECT bool_and(ssl) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE application_name = 'certstamp'",
    );
    assert_eq!(encrypted, "t", "every certstamp session is TLS");
    for mode in ["require", "verify-ca"] {
        let store = connect(&with_tls(&url, mode, &ca)).await.unwrap();
        assert!(store.visitor_by_id("tls").await.unwrap().is_some(), "{mode}");
    }

    // A CA that did not sign the server's certificate: a clear error, no store.
    for mode in ["verify-full", "verify-ca", "require"] {
        let err = connect(&with_tls(&url, mode, &other))
            .await
            .err()
            .expect("a wrong CA is refused");
        let text = err.to_string();
        assert!(
            text.contains("TLS") && text.contains("certificate") && text.contains("sslrootcert"),
            "{mode}: {text}"
        );
        assert!(!matches!(err, Error::DbUnreachable(_)), "not a passing outage: {err:?}");
    }

    // No TLS to a server that takes TLS only: refused, and the error says to ask for TLS.
    let err = connect(&url).await.err().expect("plain TCP is refused");
    let text = err.to_string();
    assert!(text.contains("no encryption") && text.contains("sslmode"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    // The certificate names the database's DNS name only, not the address dialled.
    let (server, dir) = tls_server("DNS:db.booth.example");
    let url = server.fresh_database();
    let ca = dir.path().join("ca.crt");
    let err = connect(&with_tls(&url, "verify-full", &ca))
        .await
        .err()
        .expect("wrong name");
    let text = err.to_string();
    assert!(text.contains("TLS") && text.contains("certificate"), "{text}");
    assert!(text.contains("name") || text.contains("Name"), "{text}");
    // verify-ca trusts any certificate from the CA, as libpq does.
    works(&connect(&with_tls(&url, "verify-ca", &ca)).await.unwrap()).await;
}
