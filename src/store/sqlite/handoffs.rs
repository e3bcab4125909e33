//! SQL for the booth screen's handoffs (a few live at a time; expired ones go when a
//! new one starts).

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;
use crate::store::handoffs::StoredHandoff;

pub(super) const CREATE: &str =
    "INSERT INTO kiosk_handoffs (id_digest, session_digest, sealed_token, expires_at) VALUES (?1, ?2, ?3, ?4)";
pub(super) const DROP_EXPIRED: &str = "DELETE FROM kiosk_handoffs WHERE expires_at <= ?1";
pub(super) const LIVE: &str =
    "SELECT session_digest, sealed_token FROM kiosk_handoffs WHERE id_digest = ?1 AND expires_at > ?2";
pub(super) const END: &str = "DELETE FROM kiosk_handoffs WHERE id_digest = ?1";

pub(super) fn create(
    c: &Connection,
    id: &[u8],
    session: &[u8],
    sealed: &[u8],
    expires_at: i64,
    now: i64,
) -> Result<()> {
    c.prepare_cached(DROP_EXPIRED)?.execute([now])?;
    c.prepare_cached(CREATE)?
        .execute(params![id, session, sealed, expires_at])?;
    Ok(())
}

pub(super) fn live(c: &Connection, id: &[u8], now: i64) -> Result<Option<StoredHandoff>> {
    Ok(c.prepare_cached(LIVE)?
        .query_row(params![id, now], |r| {
            Ok(StoredHandoff {
                session: r.get(0)?,
                sealed_token: r.get(1)?,
            })
        })
        .optional()?)
}

pub(super) fn end(c: &Connection, id: &[u8]) -> Result<bool> {
    Ok(c.prepare_cached(END)?.execute([id])? == 1)
}
