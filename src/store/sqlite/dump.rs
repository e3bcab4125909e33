//! Every row in and out of SQLite, for `certstamp store migrate`.

use rusqlite::{Connection, params};

use crate::error::{Error, Result};
use crate::store::dump::{self, Dump, EntryRow, JobRow, KeptLinkRow, VisitorRow};

pub(super) fn export(c: &Connection) -> Result<Dump> {
    let mut visitors = c.prepare(&format!(
        "SELECT {} FROM visitors ORDER BY rowid",
        dump::VISITOR_COLUMNS
    ))?;
    let visitors = visitors
        .query_map([], |r| {
            Ok(VisitorRow {
                id: r.get(0)?,
                conference: r.get(1)?,
                token_hash: r.get(2)?,
                token_pub: r.get(3)?,
                name: r.get(4)?,
                email: r.get(5)?,
                email_lc: r.get(6)?,
                state: r.get(7)?,
                issuer_kind: r.get(8)?,
                backend_ref: r.get(9)?,
                error: r.get(10)?,
                cert_pem: r.get(11)?,
                intermediates_pem: r.get(12)?,
                root_pem: r.get(13)?,
                sealed_key: r.get(14)?,
                serial: r.get(15)?,
                fingerprint: r.get(16)?,
                not_before: r.get(17)?,
                not_after: r.get(18)?,
                created_at: r.get(19)?,
                issued_at: r.get(20)?,
                retention_until: r.get(21)?,
                purged_at: r.get(22)?,
                voided_at: r.get(23)?,
                show_on_wall: r.get(24)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut jobs = c.prepare(&format!("SELECT {} FROM print_jobs ORDER BY id", dump::JOB_COLUMNS))?;
    let jobs = jobs
        .query_map([], |r| {
            Ok(JobRow {
                id: r.get(0)?,
                visitor_id: r.get(1)?,
                origin: r.get(2)?,
                state: r.get(3)?,
                payload: r.get(4)?,
                attempts: r.get(5)?,
                last_error: r.get(6)?,
                created_at: r.get(7)?,
                updated_at: r.get(8)?,
                next_attempt_at: r.get(9)?,
                printed_at: r.get(10)?,
                printer: r.get(11)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut guestbook = c.prepare(&format!("SELECT {} FROM guestbook ORDER BY id", dump::ENTRY_COLUMNS))?;
    let guestbook = guestbook
        .query_map([], |r| {
            Ok(EntryRow {
                id: r.get(0)?,
                issuer: r.get(1)?,
                serial: r.get(2)?,
                name: r.get(3)?,
                message: r.get(4)?,
                star: r.get(5)?,
                created_at: r.get(6)?,
                signed_at: r.get(7)?,
                rev: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut kept_links = c.prepare(&format!(
        "SELECT {} FROM kept_links ORDER BY visitor_id",
        dump::KEPT_LINK_COLUMNS
    ))?;
    let kept_links = kept_links
        .query_map([], |r| {
            Ok(KeptLinkRow {
                visitor_id: r.get(0)?,
                sealed_url: r.get(1)?,
                created_at: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Dump {
        visitors,
        jobs,
        guestbook,
        kept_links,
    })
}

pub(super) fn import(c: &Connection, d: &Dump) -> Result<()> {
    let rows: i64 = c.query_row(dump::ROWS_IN_TARGET, [], |r| r.get(0))?;
    if rows > 0 {
        return Err(Error::Invalid(
            "the target database already holds visitors, jobs, guestbook entries or kept links; migrate into an empty one"
                .into(),
        ));
    }
    let sql = format!(
        "INSERT INTO visitors ({}) VALUES ({})",
        dump::VISITOR_COLUMNS,
        dump::placeholders(25, '?')
    );
    let mut stmt = c.prepare(&sql)?;
    for v in &d.visitors {
        stmt.execute(params![
            v.id,
            v.conference,
            v.token_hash,
            v.token_pub,
            v.name,
            v.email,
            v.email_lc,
            v.state,
            v.issuer_kind,
            v.backend_ref,
            v.error,
            v.cert_pem,
            v.intermediates_pem,
            v.root_pem,
            v.sealed_key,
            v.serial,
            v.fingerprint,
            v.not_before,
            v.not_after,
            v.created_at,
            v.issued_at,
            v.retention_until,
            v.purged_at,
            v.voided_at,
            v.show_on_wall
        ])?;
    }
    let sql = format!(
        "INSERT INTO print_jobs ({}) VALUES ({})",
        dump::JOB_COLUMNS,
        dump::placeholders(12, '?')
    );
    let mut stmt = c.prepare(&sql)?;
    for j in &d.jobs {
        stmt.execute(params![
            j.id,
            j.visitor_id,
            j.origin,
            j.state,
            j.payload,
            j.attempts,
            j.last_error,
            j.created_at,
            j.updated_at,
            j.next_attempt_at,
            j.printed_at,
            j.printer
        ])?;
    }
    let sql = format!(
        "INSERT INTO guestbook ({}) VALUES ({})",
        dump::ENTRY_COLUMNS,
        dump::placeholders(9, '?')
    );
    let mut stmt = c.prepare(&sql)?;
    for e in &d.guestbook {
        stmt.execute(params![
            e.id,
            e.issuer,
            e.serial,
            e.name,
            e.message,
            e.star,
            e.created_at,
            e.signed_at,
            e.rev
        ])?;
    }
    let sql = format!(
        "INSERT INTO kept_links ({}) VALUES ({})",
        dump::KEPT_LINK_COLUMNS,
        dump::placeholders(3, '?')
    );
    let mut stmt = c.prepare(&sql)?;
    for k in &d.kept_links {
        stmt.execute(params![k.visitor_id, k.sealed_url, k.created_at])?;
    }
    Ok(())
}
