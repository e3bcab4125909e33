//! The archive's reads in SQLite.

use rusqlite::{Connection, Row};

use crate::error::Result;
use crate::store::archive::{IssuedRow, Unpurged};

fn issued_row(r: &Row<'_>) -> rusqlite::Result<IssuedRow> {
    Ok(IssuedRow {
        token_hash: r.get(0)?,
        conference: r.get(1)?,
        cert_pem: r.get(2)?,
        intermediates_pem: r.get(3)?,
        root_pem: r.get(4)?,
        voided_at: r.get(5)?,
        created_at: r.get(6)?,
    })
}

/// Every issued certificate, oldest first.
pub(super) fn issued_certificates(conn: &Connection) -> Result<Vec<IssuedRow>> {
    {
        let mut stmt = conn.prepare(
            "SELECT token_hash, conference, cert_pem, intermediates_pem, root_pem, voided_at, created_at \
             FROM visitors WHERE state = 'issued' AND cert_pem IS NOT NULL AND intermediates_pem IS NOT NULL \
             AND root_pem IS NOT NULL ORDER BY created_at, rowid",
        )?;
        let rows = stmt.query_map([], issued_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

/// The distinct intermediates PEM of issued certificates (cert-manager keeps its
/// intermediates in the cluster, so the data dir may not have them).
pub(super) fn issued_intermediates(conn: &Connection) -> Result<Vec<String>> {
    {
        let mut stmt = conn.prepare(
            "SELECT DISTINCT intermediates_pem FROM visitors \
             WHERE state = 'issued' AND intermediates_pem IS NOT NULL ORDER BY intermediates_pem",
        )?;
        let rows = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }
}

/// Visitors whose email or key the retention purge has not removed yet.
pub(super) fn unpurged(conn: &Connection) -> Result<Unpurged> {
    {
        Ok(conn.query_row(
            "SELECT COUNT(*), MAX(retention_until) FROM visitors \
             WHERE email IS NOT NULL OR sealed_key IS NOT NULL",
            [],
            |r| {
                Ok(Unpurged {
                    count: r.get::<_, i64>(0)? as u64,
                    until: r.get(1)?,
                })
            },
        )?)
    }
}
