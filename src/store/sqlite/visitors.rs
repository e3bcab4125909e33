//! Visitor rows in SQLite: created at submission, completed when the certificate is
//! issued, purged of everything personal after retention.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::{Error, Result};
use crate::store::now_ts;
use crate::store::page::{Cursor, Page};
use crate::store::visitors::{IssueState, IssuedRow, NewVisitor, Purged, SealTile, Visitor, VisitorFilter};

macro_rules! columns {
    () => {
        "id, conference, name, email, state, issuer_kind, backend_ref, error, cert_pem, \
         intermediates_pem, root_pem, sealed_key, serial, fingerprint, created_at, retention_until, \
         purged_at, voided_at, not_before, not_after, show_on_wall"
    };
}
pub(super) use columns;

pub(super) const INSERT: &str = "INSERT INTO visitors (id, conference, token_hash, token_pub, name, email, \
    email_lc, state, issuer_kind, backend_ref, created_at, retention_until, show_on_wall) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8, ?9, ?10, ?11, ?12)";
pub(super) const TOKEN_PUB: &str = "SELECT token_pub FROM visitors WHERE id = ?1";
// A certificate that arrives after retention (a backend that was slow) stores only what a
// purge keeps: the certificate and the key name the visitor. A voided one gets no key.
pub(super) const STORE_ISSUED: &str = "UPDATE visitors SET state = 'issued', error = NULL, \
    cert_pem = CASE WHEN purged_at IS NULL THEN ?2 END, \
    intermediates_pem = ?3, root_pem = ?4, sealed_key = CASE WHEN purged_at IS NULL AND voided_at IS NULL THEN ?5 END, serial = ?6, \
    fingerprint = ?7, not_before = ?8, not_after = ?9, issued_at = ?10 WHERE id = ?1";
pub(super) const NOTE_PROBLEM: &str = "UPDATE visitors SET state = ?2, error = ?3 WHERE id = ?1 AND state != 'issued'";
pub(super) const SET_BACKEND_REF: &str = "UPDATE visitors SET backend_ref = ?2 WHERE id = ?1";
pub(super) const BY_TOKEN_HASH: &str = concat!("SELECT ", columns!(), " FROM visitors WHERE token_hash = ?1");
pub(super) const BY_ID: &str = concat!("SELECT ", columns!(), " FROM visitors WHERE id = ?1");
pub(super) const BY_SERIAL: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM visitors WHERE serial = ?1 AND state = 'issued'"
);
pub(super) const PENDING: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM visitors WHERE state = 'pending' AND issuer_kind = ?1 ORDER BY created_at, id"
);
/// Staff list: `(?1, ?2)` is the cursor; the first page starts after `(i64::MAX, '')`,
/// so one range on the index serves every page.
pub(super) const PAGE_ALL: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM visitors WHERE (created_at, id) < (?1, ?2) ORDER BY created_at DESC, id DESC LIMIT ?3"
);
pub(super) const PAGE_STATE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM visitors WHERE state = ?4 AND (created_at, id) < (?1, ?2) ORDER BY created_at DESC, id DESC LIMIT ?3"
);
/// The name leaves the database only for visitors who ticked "show my name on the wall".
pub(super) const SEALS: &str = "SELECT id, fingerprint, issued_at, CASE WHEN show_on_wall THEN name END FROM visitors \
    WHERE conference = ?4 AND state = 'issued' AND voided_at IS NULL AND (issued_at, id) < (?1, ?2) ORDER BY issued_at DESC, id DESC LIMIT ?3";
/// Visitors due for the purge (`?1` = now); the other purge statements work on these.
macro_rules! due {
    () => {
        "SELECT id FROM visitors WHERE retention_until <= ?1 AND purged_at IS NULL"
    };
}
pub(super) const DUE: &str = concat!("SELECT id, backend_ref FROM visitors WHERE id IN (", due!(), ")");
pub(super) const DUE_JOBS: &str = concat!("SELECT id FROM print_jobs WHERE visitor_id IN (", due!(), ")");
pub(super) const PURGE_GUESTBOOK: &str = concat!(
    "DELETE FROM guestbook WHERE serial IN (SELECT serial FROM visitors WHERE serial IS NOT NULL AND id IN (",
    due!(),
    "))"
);
pub(super) const CANCEL_DUE_JOBS: &str = concat!(
    "UPDATE print_jobs SET state = 'cancelled', updated_at = ?1, \
     last_error = 'Its link was purged after the retention period.' \
     WHERE state IN ('queued', 'failed') AND visitor_id IN (",
    due!(),
    ")"
);
pub(super) const DROP_DUE_PAYLOADS: &str = concat!(
    "UPDATE print_jobs SET payload = NULL WHERE payload IS NOT NULL AND visitor_id IN (",
    due!(),
    ")"
);
pub(super) const PURGE: &str = "UPDATE visitors SET name = '', email = NULL, email_lc = NULL, cert_pem = NULL, \
    sealed_key = NULL, error = NULL, purged_at = ?1 WHERE retention_until <= ?1 AND purged_at IS NULL";

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
        not_before: r.get(18)?,
        not_after: r.get(19)?,
        show_on_wall: r.get(20)?,
    })
}

fn one(c: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Option<Visitor>> {
    Ok(c.prepare_cached(sql)?.query_row(p, from_row).optional()?)
}

pub(super) fn many(c: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Vec<Visitor>> {
    let mut stmt = c.prepare_cached(sql)?;
    let rows = stmt.query_map(p, from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

pub(super) fn insert(c: &Connection, v: &NewVisitor, hash: &[u8], public: &[u8; 32]) -> Result<()> {
    let res = c.prepare_cached(INSERT)?.execute(params![
        v.id,
        v.conference,
        hash,
        &public[..],
        v.name,
        v.email,
        v.email_lc,
        v.issuer_kind,
        v.backend_ref,
        now_ts(),
        v.retention_until,
        v.show_on_wall
    ]);
    match res {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, Some(msg)))
            if e.code == rusqlite::ErrorCode::ConstraintViolation && msg.contains("email_lc") =>
        {
            Err(Error::AlreadyIssued)
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) fn token_pub(c: &Connection, id: &str) -> Result<Option<[u8; 32]>> {
    let raw: Option<Vec<u8>> = c.prepare_cached(TOKEN_PUB)?.query_row([id], |r| r.get(0)).optional()?;
    raw.map(|b| b.try_into().map_err(|_| Error::Internal("bad token_pub".into())))
        .transpose()
}

pub(super) fn store_issued(c: &Connection, id: &str, row: &IssuedRow) -> Result<()> {
    let n = c.prepare_cached(STORE_ISSUED)?.execute(params![
        id,
        row.cert_pem,
        row.intermediates_pem,
        row.root_pem,
        row.sealed_key,
        row.serial,
        row.fingerprint,
        row.not_before,
        row.not_after,
        now_ts()
    ])?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

pub(super) fn note_problem(c: &Connection, id: &str, message: &str, still_pending: bool) -> Result<()> {
    let state = if still_pending { "pending" } else { "failed" };
    c.prepare_cached(NOTE_PROBLEM)?.execute(params![id, state, message])?;
    Ok(())
}

pub(super) fn set_backend_ref(c: &Connection, id: &str, reference: &str) -> Result<()> {
    c.prepare_cached(SET_BACKEND_REF)?.execute(params![id, reference])?;
    Ok(())
}

pub(super) fn by_token_hash(c: &Connection, hash: &[u8]) -> Result<Option<Visitor>> {
    one(c, BY_TOKEN_HASH, [hash])
}

pub(super) fn by_id(c: &Connection, id: &str) -> Result<Option<Visitor>> {
    one(c, BY_ID, [id])
}

pub(super) fn by_serial(c: &Connection, serial: &str) -> Result<Option<Visitor>> {
    one(c, BY_SERIAL, [serial])
}

pub(super) fn pending(c: &Connection, kind: &str) -> Result<Vec<Visitor>> {
    many(c, PENDING, [kind])
}

/// Where a newest-first page starts: after the cursor, or after everything.
pub(super) fn start(after: Option<&Cursor>) -> (i64, &str) {
    after.map_or((i64::MAX, ""), |a| (a.key, a.id.as_str()))
}

pub(super) fn page(c: &Connection, filter: VisitorFilter, after: Option<&Cursor>, limit: u32) -> Result<Page<Visitor>> {
    let (key, id) = start(after);
    let fetch = i64::from(limit) + 1;
    let rows = match filter.state {
        None => many(c, PAGE_ALL, params![key, id, fetch])?,
        Some(s) => many(c, PAGE_STATE, params![key, id, fetch, s.as_str()])?,
    };
    Ok(Page::from_rows(rows, limit, |v| Cursor {
        key: v.created_at,
        id: v.id.clone(),
    }))
}

pub(super) fn seals(c: &Connection, conference: &str, after: Option<&Cursor>, limit: u32) -> Result<Page<SealTile>> {
    let (key, id) = start(after);
    let mut stmt = c.prepare_cached(SEALS)?;
    let rows = stmt
        .query_map(params![key, id, i64::from(limit) + 1, conference], |r| {
            Ok(SealTile {
                id: r.get(0)?,
                fingerprint: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                issued_at: r.get::<_, Option<i64>>(2)?.unwrap_or_default(),
                name: r.get(3)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, limit, |s| Cursor {
        key: s.issued_at,
        id: s.id.clone(),
    }))
}

/// The purge's statements, in the writer's transaction: all of them or none.
pub(super) fn purge_expired(c: &Connection, now: i64) -> Result<Purged> {
    let visitors = c
        .prepare_cached(DUE)?
        .query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if visitors.is_empty() {
        return Ok(Purged::default());
    }
    let jobs = c
        .prepare_cached(DUE_JOBS)?
        .query_map([now], |r| r.get(0))?
        .collect::<rusqlite::Result<Vec<i64>>>()?;
    let guestbook_entries = c.prepare_cached(PURGE_GUESTBOOK)?.execute([now])?;
    let cancelled_jobs = c.prepare_cached(CANCEL_DUE_JOBS)?.execute([now])?;
    c.prepare_cached(DROP_DUE_PAYLOADS)?.execute([now])?;
    c.prepare_cached(PURGE)?.execute([now])?;
    Ok(Purged {
        visitors,
        jobs,
        guestbook_entries,
        cancelled_jobs,
    })
}
