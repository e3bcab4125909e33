//! Visitor rows in PostgreSQL: the same statements as SQLite's, in PostgreSQL's words.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;

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

const INSERT: &str = "INSERT INTO visitors (id, conference, token_hash, token_pub, name, email, \
    email_lc, state, issuer_kind, backend_ref, created_at, retention_until, show_on_wall) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, $11, $12)";
const TOKEN_PUB: &str = "SELECT token_pub FROM visitors WHERE id = $1";
/// A certificate that arrives after retention stores only what a purge keeps; a voided
/// one gets no key.
const STORE_ISSUED: &str = "UPDATE visitors SET state = 'issued', error = NULL, \
    cert_pem = CASE WHEN purged_at IS NULL THEN $2::text END, \
    intermediates_pem = $3, root_pem = $4, sealed_key = CASE WHEN purged_at IS NULL AND voided_at IS NULL THEN $5::bytea END, \
    serial = $6, fingerprint = $7, not_before = $8, not_after = $9, issued_at = $10 WHERE id = $1";
const NOTE_PROBLEM: &str = "UPDATE visitors SET state = $2, error = $3 WHERE id = $1 AND state != 'issued'";
const SET_BACKEND_REF: &str = "UPDATE visitors SET backend_ref = $2 WHERE id = $1";
const BY_TOKEN_HASH: &str = concat!("SELECT ", columns!(), " FROM visitors WHERE token_hash = $1");
const BY_ID: &str = concat!("SELECT ", columns!(), " FROM visitors WHERE id = $1");
const BY_SERIAL: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM visitors WHERE serial = $1 AND state = 'issued'"
);
const PENDING: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM visitors WHERE state = 'pending' AND issuer_kind = $1 ORDER BY created_at, id"
);
const PAGE_ALL: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM visitors WHERE (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT $3"
);
const PAGE_STATE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM visitors WHERE state = $4 AND (created_at, id) < ($1, $2) ORDER BY created_at DESC, id DESC LIMIT $3"
);
/// The name leaves the database only for visitors who ticked "show my name on the wall".
const SEALS: &str = "SELECT id, fingerprint, issued_at, CASE WHEN show_on_wall THEN name END FROM visitors \
    WHERE conference = $4 AND state = 'issued' AND voided_at IS NULL AND (issued_at, id) < ($1, $2) \
    ORDER BY issued_at DESC, id DESC LIMIT $3";
/// Visitors due for the purge (`$1` = now), locked so two kiosks purge them once.
const DUE: &str = "SELECT id, backend_ref FROM visitors WHERE retention_until <= $1 AND purged_at IS NULL \
    ORDER BY id FOR UPDATE";
const DUE_JOBS: &str = "SELECT id FROM print_jobs WHERE visitor_id = ANY($1) ORDER BY id";
const PURGE_GUESTBOOK: &str = "DELETE FROM guestbook WHERE serial IN \
    (SELECT serial FROM visitors WHERE serial IS NOT NULL AND id = ANY($1))";
const CANCEL_DUE_JOBS: &str = "UPDATE print_jobs SET state = 'cancelled', updated_at = $2, \
    last_error = 'Its link was purged after the retention period.' \
    WHERE state IN ('queued', 'failed') AND visitor_id = ANY($1)";
const DROP_DUE_PAYLOADS: &str =
    "UPDATE print_jobs SET payload = NULL WHERE payload IS NOT NULL AND visitor_id = ANY($1)";
const PURGE: &str = "UPDATE visitors SET name = '', email = NULL, email_lc = NULL, cert_pem = NULL, \
    sealed_key = NULL, error = NULL, purged_at = $2 WHERE id = ANY($1)";
/// A reissued link kept for a purged visitor goes with them, in the same transaction.
const DROP_DUE_LINKS: &str = "DELETE FROM kept_links WHERE visitor_id = ANY($1)";

pub(super) fn from_row(r: &Row) -> Visitor {
    Visitor {
        id: r.get(0),
        conference: r.get(1),
        name: r.get(2),
        email: r.get(3),
        state: IssueState::parse(r.get(4)),
        issuer_kind: r.get(5),
        backend_ref: r.get(6),
        error: r.get(7),
        cert_pem: r.get(8),
        intermediates_pem: r.get(9),
        root_pem: r.get(10),
        sealed_key: r.get(11),
        serial: r.get(12),
        fingerprint: r.get(13),
        created_at: r.get(14),
        retention_until: r.get(15),
        purged_at: r.get(16),
        voided_at: r.get(17),
        not_before: r.get(18),
        not_after: r.get(19),
        show_on_wall: r.get(20),
    }
}

async fn one<C: GenericClient>(
    c: &C,
    sql: &str,
    p: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<Visitor>> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&stmt, p).await?.as_ref().map(from_row))
}

async fn many<C: GenericClient>(
    c: &C,
    sql: &str,
    p: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<Visitor>> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.query(&stmt, p).await?.iter().map(from_row).collect())
}

pub(super) async fn insert<C: GenericClient>(c: &C, v: &NewVisitor, hash: &[u8], public: &[u8; 32]) -> Result<()> {
    let stmt = c.prepare_cached(INSERT).await?;
    let res = c
        .execute(
            &stmt,
            &[
                &v.id,
                &v.conference,
                &hash,
                &&public[..],
                &v.name,
                &v.email,
                &v.email_lc,
                &v.issuer_kind,
                &v.backend_ref,
                &now_ts(),
                &v.retention_until,
                &v.show_on_wall,
            ],
        )
        .await;
    match res {
        Ok(_) => Ok(()),
        Err(e)
            if e.code() == Some(&SqlState::UNIQUE_VIOLATION)
                && e.as_db_error().and_then(|d| d.constraint()) == Some("visitors_one_per_email") =>
        {
            Err(Error::AlreadyIssued)
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn token_pub<C: GenericClient>(c: &C, id: &str) -> Result<Option<[u8; 32]>> {
    let stmt = c.prepare_cached(TOKEN_PUB).await?;
    let raw: Option<Vec<u8>> = c.query_opt(&stmt, &[&id]).await?.map(|r| r.get(0));
    raw.map(|b| b.try_into().map_err(|_| Error::Internal("bad token_pub".into())))
        .transpose()
}

pub(super) async fn store_issued<C: GenericClient>(c: &C, id: &str, row: &IssuedRow) -> Result<()> {
    let stmt = c.prepare_cached(STORE_ISSUED).await?;
    let n = c
        .execute(
            &stmt,
            &[
                &id,
                &row.cert_pem,
                &row.intermediates_pem,
                &row.root_pem,
                &row.sealed_key,
                &row.serial,
                &row.fingerprint,
                &row.not_before,
                &row.not_after,
                &now_ts(),
            ],
        )
        .await?;
    if n == 0 {
        return Err(Error::NotFound);
    }
    Ok(())
}

pub(super) async fn note_problem<C: GenericClient>(c: &C, id: &str, message: &str, still_pending: bool) -> Result<()> {
    let state = if still_pending { "pending" } else { "failed" };
    let stmt = c.prepare_cached(NOTE_PROBLEM).await?;
    c.execute(&stmt, &[&id, &state, &message]).await?;
    Ok(())
}

pub(super) async fn set_backend_ref<C: GenericClient>(c: &C, id: &str, reference: &str) -> Result<()> {
    let stmt = c.prepare_cached(SET_BACKEND_REF).await?;
    c.execute(&stmt, &[&id, &reference]).await?;
    Ok(())
}

pub(super) async fn by_token_hash<C: GenericClient>(c: &C, hash: &[u8]) -> Result<Option<Visitor>> {
    one(c, BY_TOKEN_HASH, &[&hash]).await
}

pub(super) async fn by_id<C: GenericClient>(c: &C, id: &str) -> Result<Option<Visitor>> {
    one(c, BY_ID, &[&id]).await
}

pub(super) async fn by_serial<C: GenericClient>(c: &C, serial: &str) -> Result<Option<Visitor>> {
    one(c, BY_SERIAL, &[&serial]).await
}

pub(super) async fn pending<C: GenericClient>(c: &C, kind: &str) -> Result<Vec<Visitor>> {
    many(c, PENDING, &[&kind]).await
}

fn start(after: Option<&Cursor>) -> (i64, String) {
    after.map_or((i64::MAX, String::new()), |a| (a.key, a.id.clone()))
}

pub(super) async fn page<C: GenericClient>(
    c: &C,
    filter: VisitorFilter,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<Page<Visitor>> {
    let (key, id) = start(after);
    let fetch = i64::from(limit) + 1;
    let rows = match filter.state {
        None => many(c, PAGE_ALL, &[&key, &id, &fetch]).await?,
        Some(s) => many(c, PAGE_STATE, &[&key, &id, &fetch, &s.as_str()]).await?,
    };
    Ok(Page::from_rows(rows, limit, |v| Cursor {
        key: v.created_at,
        id: v.id.clone(),
    }))
}

pub(super) async fn seals<C: GenericClient>(
    c: &C,
    conference: &str,
    after: Option<&Cursor>,
    limit: u32,
) -> Result<Page<SealTile>> {
    let (key, id) = start(after);
    let stmt = c.prepare_cached(SEALS).await?;
    let rows = c
        .query(&stmt, &[&key, &id, &(i64::from(limit) + 1), &conference])
        .await?
        .iter()
        .map(|r| SealTile {
            id: r.get(0),
            fingerprint: r.get::<_, Option<String>>(1).unwrap_or_default(),
            issued_at: r.get::<_, Option<i64>>(2).unwrap_or_default(),
            name: r.get(3),
        })
        .collect();
    Ok(Page::from_rows(rows, limit, |s| Cursor {
        key: s.issued_at,
        id: s.id.clone(),
    }))
}

/// The purge's statements, in the caller's transaction: all of them or none.
pub(super) async fn purge_expired<C: GenericClient>(c: &C, now: i64) -> Result<Purged> {
    let visitors: Vec<(String, Option<String>)> = c
        .query(DUE, &[&now])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    if visitors.is_empty() {
        return Ok(Purged::default());
    }
    let ids: Vec<&str> = visitors.iter().map(|(id, _)| id.as_str()).collect();
    let jobs = c.query(DUE_JOBS, &[&ids]).await?.iter().map(|r| r.get(0)).collect();
    let guestbook_entries = c.execute(PURGE_GUESTBOOK, &[&ids]).await? as usize;
    let cancelled_jobs = c.execute(CANCEL_DUE_JOBS, &[&ids, &now]).await? as usize;
    c.execute(DROP_DUE_PAYLOADS, &[&ids]).await?;
    c.execute(DROP_DUE_LINKS, &[&ids]).await?;
    c.execute(PURGE, &[&ids, &now]).await?;
    super::erase::owe(c).await?;
    Ok(Purged {
        visitors,
        jobs,
        guestbook_entries,
        cancelled_jobs,
    })
}

/// Every statement above, by name, for the query-plan test.
#[cfg(test)]
pub(super) const STATEMENTS: &[(&str, &str)] = &[
    ("visitors::INSERT", INSERT),
    ("visitors::TOKEN_PUB", TOKEN_PUB),
    ("visitors::STORE_ISSUED", STORE_ISSUED),
    ("visitors::NOTE_PROBLEM", NOTE_PROBLEM),
    ("visitors::SET_BACKEND_REF", SET_BACKEND_REF),
    ("visitors::BY_TOKEN_HASH", BY_TOKEN_HASH),
    ("visitors::BY_ID", BY_ID),
    ("visitors::BY_SERIAL", BY_SERIAL),
    ("visitors::PENDING", PENDING),
    ("visitors::PAGE_ALL", PAGE_ALL),
    ("visitors::PAGE_STATE", PAGE_STATE),
    ("visitors::SEALS", SEALS),
    ("visitors::DUE", DUE),
    ("visitors::DUE_JOBS", DUE_JOBS),
    ("visitors::PURGE_GUESTBOOK", PURGE_GUESTBOOK),
    ("visitors::CANCEL_DUE_JOBS", CANCEL_DUE_JOBS),
    ("visitors::DROP_DUE_PAYLOADS", DROP_DUE_PAYLOADS),
    ("visitors::PURGE", PURGE),
    ("visitors::DROP_DUE_LINKS", DROP_DUE_LINKS),
];
