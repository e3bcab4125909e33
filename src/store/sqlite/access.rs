//! SQL for staff sessions, booth-screen enrolment codes and failed logins (every table
//! small: a few staff browsers, a few codes, clients that failed in the last minute).

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;
use crate::store::access::StaffSession;

pub(super) const CREATE_SESSION: &str =
    "INSERT INTO staff_sessions (digest, generation, created_at, last_seen) VALUES (?1, ?2, ?3, ?3)";
pub(super) const DROP_IDLE_SESSIONS: &str = "DELETE FROM staff_sessions WHERE last_seen <= ?1";
pub(super) const SESSION: &str = "SELECT generation, created_at, last_seen, flash_ok, flash_text, \
    enrolment_sealed, enrolment_expires FROM staff_sessions WHERE digest = ?1";
pub(super) const TOUCH_SESSION: &str = "UPDATE staff_sessions SET last_seen = ?2 WHERE digest = ?1";
pub(super) const END_SESSION: &str = "DELETE FROM staff_sessions WHERE digest = ?1";
pub(super) const SET_FLASH: &str = "UPDATE staff_sessions SET flash_ok = ?2, flash_text = ?3 WHERE digest = ?1";
pub(super) const SET_ENROLMENT: &str =
    "UPDATE staff_sessions SET enrolment_sealed = ?2, enrolment_expires = ?3 WHERE digest = ?1";
pub(super) const CREATE_CODE: &str = "INSERT INTO kiosk_enrolments (digest, expires_at) VALUES (?1, ?2)";
pub(super) const DROP_EXPIRED_CODES: &str = "DELETE FROM kiosk_enrolments WHERE expires_at <= ?1";
pub(super) const CODE_PENDING: &str = "SELECT 1 FROM kiosk_enrolments WHERE digest = ?1 AND expires_at > ?2";
/// Deleting the row is the use: of two replicas redeeming at once, one deletes it.
pub(super) const REDEEM_CODE: &str = "DELETE FROM kiosk_enrolments WHERE digest = ?1 RETURNING expires_at";
pub(super) const FAILURES: &str = "SELECT failures FROM staff_login_failures WHERE client = ?1 AND window_start > ?2";
pub(super) const COUNT_FAILURE: &str = "INSERT INTO staff_login_failures (client, window_start, failures) \
    VALUES (?1, ?2, 1) ON CONFLICT (client) DO UPDATE SET \
    failures = CASE WHEN window_start > ?3 THEN failures + 1 ELSE 1 END, \
    window_start = CASE WHEN window_start > ?3 THEN window_start ELSE ?2 END \
    RETURNING failures";
pub(super) const DROP_OLD_FAILURES: &str = "DELETE FROM staff_login_failures WHERE window_start <= ?1";
/// One statement per hit, so replicas counting at once never lose one.
pub(super) const COUNT_HIT: &str = "INSERT INTO rate_limits (key, window_start, hits) VALUES (?1, ?2, 1) \
    ON CONFLICT (key) DO UPDATE SET \
    hits = CASE WHEN excluded.window_start > window_start THEN 1 ELSE hits + 1 END, \
    window_start = MAX(window_start, excluded.window_start) \
    RETURNING hits";
pub(super) const DROP_OLD_HITS: &str = "DELETE FROM rate_limits WHERE window_start <= ?1";

pub(super) fn create_session(c: &Connection, digest: &[u8], generation: &[u8], now: i64, idle: i64) -> Result<()> {
    c.prepare_cached(DROP_IDLE_SESSIONS)?.execute([idle])?;
    c.prepare_cached(CREATE_SESSION)?
        .execute(params![digest, generation, now])?;
    Ok(())
}

pub(super) fn session(c: &Connection, digest: &[u8]) -> Result<Option<StaffSession>> {
    let s = c
        .prepare_cached(SESSION)?
        .query_row([digest], |r| {
            let flash = match (r.get::<_, Option<bool>>(3)?, r.get::<_, Option<String>>(4)?) {
                (Some(ok), Some(text)) => Some((ok, text)),
                _ => None,
            };
            let enrolment = match (r.get::<_, Option<Vec<u8>>>(5)?, r.get::<_, Option<i64>>(6)?) {
                (Some(sealed), Some(expires)) => Some((sealed, expires)),
                _ => None,
            };
            Ok(StaffSession {
                generation: r.get(0)?,
                created_at: r.get(1)?,
                last_seen: r.get(2)?,
                flash,
                enrolment,
            })
        })
        .optional()?;
    Ok(s)
}

pub(super) fn execute(c: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<()> {
    c.prepare_cached(sql)?.execute(p)?;
    Ok(())
}

pub(super) fn create_code(c: &Connection, digest: &[u8], expires_at: i64, now: i64) -> Result<()> {
    c.prepare_cached(DROP_EXPIRED_CODES)?.execute([now])?;
    c.prepare_cached(CREATE_CODE)?.execute(params![digest, expires_at])?;
    Ok(())
}

pub(super) fn code_pending(c: &Connection, digest: &[u8], now: i64) -> Result<bool> {
    Ok(c.prepare_cached(CODE_PENDING)?.exists(params![digest, now])?)
}

pub(super) fn redeem_code(c: &Connection, digest: &[u8], now: i64) -> Result<bool> {
    let expires: Option<i64> = c
        .prepare_cached(REDEEM_CODE)?
        .query_row([digest], |r| r.get(0))
        .optional()?;
    Ok(expires.is_some_and(|e| e > now))
}

pub(super) fn failures(c: &Connection, client: &str, since: i64) -> Result<u32> {
    let n: Option<u32> = c
        .prepare_cached(FAILURES)?
        .query_row(params![client, since], |r| r.get(0))
        .optional()?;
    Ok(n.unwrap_or(0))
}

pub(super) fn count_failure(c: &Connection, client: &str, now: i64, since: i64) -> Result<u32> {
    c.prepare_cached(DROP_OLD_FAILURES)?.execute([since])?;
    Ok(c.prepare_cached(COUNT_FAILURE)?
        .query_row(params![client, now, since], |r| r.get(0))?)
}

pub(super) fn count_hit(c: &Connection, key: &[u8], window: i64) -> Result<u32> {
    Ok(c.prepare_cached(COUNT_HIT)?
        .query_row(params![key, window], |r| r.get(0))?)
}
