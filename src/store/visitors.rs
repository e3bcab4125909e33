//! Visitor rows: created at submission, completed when the certificate is issued,
//! purged of email and key after retention.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Store, now_ts};
use crate::error::{Error, Result};
use crate::pki::CertSummary;
use crate::pki::IssuedCert;
use crate::token::{self, Token};

/// Where a visitor's certificate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueState {
    /// Submitted; waiting for the issuer.
    Pending,
    /// Certificate available.
    Issued,
    /// The issuer refused; `error` says why.
    Failed,
}

impl IssueState {
    fn parse(s: &str) -> Self {
        match s {
            "issued" => IssueState::Issued,
            "failed" => IssueState::Failed,
            _ => IssueState::Pending,
        }
    }
}

/// A new submission.
#[derive(Debug, Clone)]
pub struct NewVisitor {
    /// Random visitor id.
    pub id: String,
    /// Conference slug.
    pub conference: String,
    /// Display name.
    pub name: String,
    /// Email as typed.
    pub email: String,
    /// Lowercase email.
    pub email_lc: String,
    /// `local` or `cert-manager`.
    pub issuer_kind: String,
    /// Backend object name, when known up front.
    pub backend_ref: Option<String>,
    /// Unix time when email and key are purged.
    pub retention_until: i64,
}

/// A stored visitor.
#[derive(Clone)]
pub struct Visitor {
    /// Random id.
    pub id: String,
    /// Conference slug.
    pub conference: String,
    /// Display name.
    pub name: String,
    /// Email; `None` once purged.
    pub email: Option<String>,
    /// Issuance state.
    pub state: IssueState,
    /// Backend that issues it.
    pub issuer_kind: String,
    /// Backend object name.
    pub backend_ref: Option<String>,
    /// Failure or delay reason.
    pub error: Option<String>,
    /// Leaf PEM.
    pub cert_pem: Option<String>,
    /// Intermediates PEM.
    pub intermediates_pem: Option<String>,
    /// Root PEM.
    pub root_pem: Option<String>,
    /// Sealed PKCS#8 key; `None` once purged.
    pub sealed_key: Option<Vec<u8>>,
    /// Serial, colon hex.
    pub serial: Option<String>,
    /// SHA-256 fingerprint, colon hex.
    pub fingerprint: Option<String>,
    /// Submission time.
    pub created_at: i64,
    /// Purge time.
    pub retention_until: i64,
    /// When purged.
    pub purged_at: Option<i64>,
    /// When voided by staff.
    pub voided_at: Option<i64>,
}

impl std::fmt::Debug for Visitor {
    // Never print the email or the sealed key, even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Visitor")
            .field("id", &self.id)
            .field("state", &self.state)
            .field("serial", &self.serial)
            .finish_non_exhaustive()
    }
}

pub(super) const COLUMNS: &str = "id, conference, name, email, state, issuer_kind, backend_ref, error, cert_pem, \
    intermediates_pem, root_pem, sealed_key, serial, fingerprint, created_at, retention_until, purged_at, voided_at";

pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Visitor> {
    Ok(Visitor {
        id: r.get(0)?,
        conference: r.get(1)?,
        name: r.get(2)?,
        email: r.get(3)?,
        state: IssueState::parse(&r.get::<_, String>(4)?),
        issuer_kind: r.get(5)?,
        backend_ref: r.get(6)?,
        error: r.get(7)?,
        cert_pem: r.get(8)?,
        intermediates_pem: r.get(9)?,
        root_pem: r.get(10)?,
        sealed_key: r.get(11)?,
        serial: r.get(12)?,
        fingerprint: r.get(13)?,
        created_at: r.get(14)?,
        retention_until: r.get(15)?,
        purged_at: r.get(16)?,
        voided_at: r.get(17)?,
    })
}

fn one(conn: &Connection, clause: &str, p: impl rusqlite::Params) -> Result<Option<Visitor>> {
    let sql = format!("SELECT {COLUMNS} FROM visitors WHERE {clause}");
    Ok(conn.query_row(&sql, p, from_row).optional()?)
}

fn many(conn: &Connection, clause: &str, p: impl rusqlite::Params) -> Result<Vec<Visitor>> {
    let sql = format!("SELECT {COLUMNS} FROM visitors {clause}");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(p, from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Write a finished certificate into a visitor row, sealing the key to the visitor's token.
fn complete(conn: &Connection, id: &str, issued: &IssuedCert) -> Result<()> {
    let token_pub: Vec<u8> = conn
        .query_row("SELECT token_pub FROM visitors WHERE id = ?1", [id], |r| r.get(0))
        .optional()?
        .ok_or(Error::NotFound)?;
    let pubkey: [u8; 32] = token_pub
        .try_into()
        .map_err(|_| Error::Internal("bad token_pub".into()))?;
    let sealed = token::seal(&pubkey, issued.leaf.key_pem.as_bytes());
    let s = CertSummary::parse(&issued.leaf.cert_pem)?;
    conn.execute(
        "UPDATE visitors SET state = 'issued', error = NULL, cert_pem = ?2, intermediates_pem = ?3, root_pem = ?4, \
         sealed_key = CASE WHEN purged_at IS NULL AND voided_at IS NULL THEN ?5 END, serial = ?6, fingerprint = ?7, not_before = ?8, \
         not_after = ?9, issued_at = ?10 WHERE id = ?1",
        params![
            id,
            issued.leaf.cert_pem,
            issued.intermediates_pem,
            issued.root_pem,
            sealed,
            s.serial,
            s.fingerprint_hex(),
            s.not_before.unix_timestamp(),
            s.not_after.unix_timestamp(),
            now_ts()
        ],
    )?;
    // The one log line per issuance, for both backends: no name, email, token or key.
    tracing::info!(visitor = %id, serial = %s.serial, fingerprint = %s.fingerprint_hex(), "issued certificate");
    Ok(())
}

impl Store {
    /// Record a submission (state `pending`), durably. A live certificate for the
    /// same email in the same conference gives [`Error::AlreadyIssued`].
    pub async fn insert_visitor(&self, v: NewVisitor, token: &Token) -> Result<()> {
        let hash = token.lookup_hash();
        let public = token.public_key().to_vec();
        self.call(move |conn| {
            let res = conn.execute(
                "INSERT INTO visitors (id, conference, token_hash, token_pub, name, email, email_lc, state, \
                 issuer_kind, backend_ref, created_at, retention_until) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9, ?10, ?11)",
                params![
                    v.id,
                    v.conference,
                    hash,
                    public,
                    v.name,
                    v.email,
                    v.email_lc,
                    v.issuer_kind,
                    v.backend_ref,
                    now_ts(),
                    v.retention_until
                ],
            );
            match res {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, Some(msg)))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("email_lc") =>
                {
                    Err(Error::AlreadyIssued)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Store the issued certificate for a visitor.
    pub async fn complete_issuance(&self, id: &str, issued: IssuedCert) -> Result<()> {
        let id = id.to_string();
        self.call(move |conn| complete(conn, &id, &issued)).await
    }

    /// Mark issuance failed (or delayed, with `still_pending`) with a reason staff can read.
    pub async fn note_issuance_problem(&self, id: &str, message: &str, still_pending: bool) -> Result<()> {
        let (id, message) = (id.to_string(), message.to_string());
        let state = if still_pending { "pending" } else { "failed" };
        self.call(move |conn| {
            conn.execute(
                "UPDATE visitors SET state = ?2, error = ?3 WHERE id = ?1 AND state != 'issued'",
                params![id, state, message],
            )?;
            Ok(())
        })
        .await
    }

    /// Set the backend object name.
    pub async fn set_backend_ref(&self, id: &str, reference: &str) -> Result<()> {
        let (id, reference) = (id.to_string(), reference.to_string());
        self.call(move |conn| {
            conn.execute(
                "UPDATE visitors SET backend_ref = ?2 WHERE id = ?1",
                params![id, reference],
            )?;
            Ok(())
        })
        .await
    }

    /// Find a visitor by token.
    pub async fn visitor_by_token(&self, token: &Token) -> Result<Option<Visitor>> {
        let hash = token.lookup_hash();
        self.call(move |conn| one(conn, "token_hash = ?1", [hash])).await
    }

    /// Find a visitor by id.
    pub async fn visitor_by_id(&self, id: &str) -> Result<Option<Visitor>> {
        let id = id.to_string();
        self.call(move |conn| one(conn, "id = ?1", [id])).await
    }

    /// Find an issued visitor by certificate serial (colon hex).
    pub async fn visitor_by_serial(&self, serial: &str) -> Result<Option<Visitor>> {
        let serial = serial.to_string();
        self.call(move |conn| one(conn, "serial = ?1 AND state = 'issued'", [serial]))
            .await
    }

    /// Visitors still waiting for the given backend, oldest first.
    pub async fn pending_visitors(&self, issuer_kind: &str) -> Result<Vec<Visitor>> {
        let kind = issuer_kind.to_string();
        self.call(move |conn| {
            many(
                conn,
                "WHERE state = 'pending' AND issuer_kind = ?1 ORDER BY created_at",
                [kind],
            )
        })
        .await
    }

    /// The newest visitors, for the staff page.
    pub async fn recent_visitors(&self, limit: u32) -> Result<Vec<Visitor>> {
        self.call(move |conn| many(conn, "ORDER BY created_at DESC, rowid DESC LIMIT ?1", [limit]))
            .await
    }

    /// Issued certificates per conference.
    pub async fn issued_count(&self, conference: &str) -> Result<u64> {
        let conference = conference.to_string();
        self.call(move |conn| {
            Ok(conn.query_row(
                "SELECT COUNT(*) FROM visitors WHERE conference = ?1 AND state = 'issued'",
                [conference],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
        .await
    }

    /// Purge emails and keys whose retention has passed. Returns (id, backend_ref) of each.
    pub async fn purge_expired(&self, now: i64) -> Result<Vec<(String, Option<String>)>> {
        self.call(move |conn| {
            let mut stmt = conn.prepare(
                "UPDATE visitors SET email = NULL, email_lc = NULL, sealed_key = NULL, purged_at = ?1 \
                 WHERE retention_until <= ?1 AND purged_at IS NULL RETURNING id, backend_ref",
            )?;
            let rows = stmt
                .query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issuer::LeafRequest;

    fn new(id: &str, email: &str) -> NewVisitor {
        NewVisitor {
            id: id.into(),
            conference: "c".into(),
            name: "Ada".into(),
            email: email.into(),
            email_lc: email.to_lowercase(),
            issuer_kind: "local".into(),
            backend_ref: None,
            retention_until: now_ts() + 3600,
        }
    }

    #[tokio::test]
    async fn insert_complete_purge() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::in_memory().unwrap();
        let conf = crate::config::Conference {
            name: "C".into(),
            slug: "c".into(),
            city: "X".into(),
            start: time::OffsetDateTime::now_utc().date(),
            end: time::OffsetDateTime::now_utc().date(),
            leaf_validity_days: 1,
            retention_days: 1,
        };
        let ca = crate::issuer::local::LocalIssuer::open(dir.path(), &conf).unwrap();
        let t = Token::generate();
        store.insert_visitor(new("v1", "Ada@x.io"), &t).await.unwrap();
        let dup = store.insert_visitor(new("v2", "ada@X.IO"), &Token::generate()).await;
        assert!(matches!(dup, Err(Error::AlreadyIssued)));
        let issued = ca
            .sign(&LeafRequest {
                visitor_id: "v1".into(),
                name: "Ada".into(),
                email: "Ada@x.io".into(),
            })
            .unwrap();
        let key = issued.leaf.key_pem.clone();
        store.complete_issuance("v1", issued).await.unwrap();
        let v = store.visitor_by_token(&t).await.unwrap().unwrap();
        assert_eq!(v.state, IssueState::Issued);
        assert_eq!(&t.open(v.sealed_key.as_ref().unwrap()).unwrap()[..], key.as_bytes());
        assert!(store.visitor_by_token(&Token::generate()).await.unwrap().is_none());
        let purged = store.purge_expired(now_ts() + 7200).await.unwrap();
        assert_eq!(purged.len(), 1);
        let v = store.visitor_by_token(&t).await.unwrap().unwrap();
        assert!(v.sealed_key.is_none() && v.email.is_none() && v.cert_pem.is_some());
        // Voiding frees the email for a reissue.
        store
            .insert_visitor(new("v3", "b@x.io"), &Token::generate())
            .await
            .unwrap();
        assert!(store.void("v3", "voided").await.unwrap().is_some());
        store
            .insert_visitor(new("v4", "b@x.io"), &Token::generate())
            .await
            .unwrap();
    }
}
