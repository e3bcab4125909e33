//! The archive's reads in PostgreSQL.

use deadpool_postgres::GenericClient;

use crate::error::Result;
use crate::store::archive::{IssuedRow, Unpurged};

/// Every issued certificate, oldest first (the id breaks ties, as SQLite's rowid does
/// not exist here).
pub(super) async fn issued_certificates<C: GenericClient>(c: &C) -> Result<Vec<IssuedRow>> {
    let rows = c
        .query(
            "SELECT token_hash, conference, cert_pem, intermediates_pem, root_pem, voided_at, created_at \
             FROM visitors WHERE state = 'issued' AND cert_pem IS NOT NULL AND intermediates_pem IS NOT NULL \
             AND root_pem IS NOT NULL ORDER BY created_at, id",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| IssuedRow {
            token_hash: r.get(0),
            conference: r.get(1),
            cert_pem: r.get(2),
            intermediates_pem: r.get(3),
            root_pem: r.get(4),
            voided_at: r.get(5),
            created_at: r.get(6),
        })
        .collect())
}

/// The distinct intermediates PEM of issued certificates.
pub(super) async fn issued_intermediates<C: GenericClient>(c: &C) -> Result<Vec<String>> {
    let rows = c
        .query(
            "SELECT DISTINCT intermediates_pem COLLATE \"C\" FROM visitors \
             WHERE state = 'issued' AND intermediates_pem IS NOT NULL ORDER BY 1",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Visitors whose email or key the retention purge has not removed yet.
pub(super) async fn unpurged<C: GenericClient>(c: &C) -> Result<Unpurged> {
    let r = c
        .query_one(
            "SELECT COUNT(*), MAX(retention_until) FROM visitors \
             WHERE email IS NOT NULL OR sealed_key IS NOT NULL",
            &[],
        )
        .await?;
    Ok(Unpurged {
        count: r.get::<_, i64>(0).max(0) as u64,
        until: r.get(1),
    })
}
