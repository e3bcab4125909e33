//! Staff sessions, booth-screen enrolment codes and failed logins in PostgreSQL (every
//! table small; digests only). What must hold across kiosks
//! is one statement: a code is used by whoever deletes its row, a failure counted by
//! one upsert.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use crate::error::Result;
use crate::store::access::StaffSession;

const CREATE_SESSION: &str =
    "INSERT INTO staff_sessions (digest, generation, created_at, last_seen) VALUES ($1, $2, $3, $3)";
pub(super) const DROP_IDLE_SESSIONS: &str = "DELETE FROM staff_sessions WHERE last_seen <= $1";
const SESSION: &str = "SELECT generation, created_at, last_seen, flash_ok, flash_text, \
    enrolment_sealed, enrolment_expires FROM staff_sessions WHERE digest = $1";
pub(super) const TOUCH_SESSION: &str = "UPDATE staff_sessions SET last_seen = $2 WHERE digest = $1";
pub(super) const END_SESSION: &str = "DELETE FROM staff_sessions WHERE digest = $1";
pub(super) const SET_FLASH: &str = "UPDATE staff_sessions SET flash_ok = $2, flash_text = $3 WHERE digest = $1";
pub(super) const SET_ENROLMENT: &str =
    "UPDATE staff_sessions SET enrolment_sealed = $2, enrolment_expires = $3 WHERE digest = $1";
const CREATE_CODE: &str = "INSERT INTO kiosk_enrolments (digest, expires_at) VALUES ($1, $2)";
pub(super) const DROP_EXPIRED_CODES: &str = "DELETE FROM kiosk_enrolments WHERE expires_at <= $1";
const CODE_PENDING: &str = "SELECT 1 FROM kiosk_enrolments WHERE digest = $1 AND expires_at > $2";
/// Deleting the row is the use: of two kiosks redeeming at once, one deletes it.
const REDEEM_CODE: &str = "DELETE FROM kiosk_enrolments WHERE digest = $1 RETURNING expires_at";
const FAILURES: &str = "SELECT failures FROM staff_login_failures WHERE client = $1 AND window_start > $2";
const COUNT_FAILURE: &str = "INSERT INTO staff_login_failures AS f (client, window_start, failures) \
    VALUES ($1, $2, 1) ON CONFLICT (client) DO UPDATE SET \
    failures = CASE WHEN f.window_start > $3 THEN f.failures + 1 ELSE 1 END, \
    window_start = CASE WHEN f.window_start > $3 THEN f.window_start ELSE $2 END \
    RETURNING failures";
pub(super) const DROP_OLD_FAILURES: &str = "DELETE FROM staff_login_failures WHERE window_start <= $1";
/// One upsert per hit: replicas counting at once each get their own count back.
const COUNT_HIT: &str = "INSERT INTO rate_limits AS r (key, window_start, hits) VALUES ($1, $2, 1) \
    ON CONFLICT (key) DO UPDATE SET \
    hits = CASE WHEN EXCLUDED.window_start > r.window_start THEN 1 ELSE r.hits + 1 END, \
    window_start = GREATEST(r.window_start, EXCLUDED.window_start) \
    RETURNING hits";
pub(super) const DROP_OLD_HITS: &str = "DELETE FROM rate_limits WHERE window_start <= $1";
pub(super) async fn exec<C: GenericClient>(c: &C, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<u64> {
    let stmt = c.prepare_cached(sql).await?;
    Ok(c.execute(&stmt, p).await?)
}

pub(super) async fn create_session<C: GenericClient>(
    c: &C,
    digest: &[u8],
    generation: &[u8],
    now: i64,
    idle: i64,
) -> Result<()> {
    exec(c, DROP_IDLE_SESSIONS, &[&idle]).await?;
    exec(c, CREATE_SESSION, &[&digest, &generation, &now]).await?;
    Ok(())
}

pub(super) async fn session<C: GenericClient>(c: &C, digest: &[u8]) -> Result<Option<StaffSession>> {
    let stmt = c.prepare_cached(SESSION).await?;
    Ok(c.query_opt(&stmt, &[&digest]).await?.map(|r| {
        let flash = match (r.get::<_, Option<bool>>(3), r.get::<_, Option<String>>(4)) {
            (Some(ok), Some(text)) => Some((ok, text)),
            _ => None,
        };
        let enrolment = match (r.get::<_, Option<Vec<u8>>>(5), r.get::<_, Option<i64>>(6)) {
            (Some(sealed), Some(expires)) => Some((sealed, expires)),
            _ => None,
        };
        StaffSession {
            generation: r.get(0),
            created_at: r.get(1),
            last_seen: r.get(2),
            flash,
            enrolment,
        }
    }))
}

pub(super) async fn create_code<C: GenericClient>(c: &C, digest: &[u8], expires_at: i64, now: i64) -> Result<()> {
    exec(c, DROP_EXPIRED_CODES, &[&now]).await?;
    exec(c, CREATE_CODE, &[&digest, &expires_at]).await?;
    Ok(())
}

pub(super) async fn code_pending<C: GenericClient>(c: &C, digest: &[u8], now: i64) -> Result<bool> {
    let stmt = c.prepare_cached(CODE_PENDING).await?;
    Ok(c.query_opt(&stmt, &[&digest, &now]).await?.is_some())
}

pub(super) async fn redeem_code<C: GenericClient>(c: &C, digest: &[u8], now: i64) -> Result<bool> {
    let stmt = c.prepare_cached(REDEEM_CODE).await?;
    let expires: Option<i64> = c.query_opt(&stmt, &[&digest]).await?.map(|r| r.get(0));
    Ok(expires.is_some_and(|e| e > now))
}

pub(super) async fn failures<C: GenericClient>(c: &C, client: &str, since: i64) -> Result<u32> {
    let stmt = c.prepare_cached(FAILURES).await?;
    let n: Option<i32> = c.query_opt(&stmt, &[&client, &since]).await?.map(|r| r.get(0));
    Ok(n.unwrap_or(0).max(0) as u32)
}

pub(super) async fn count_failure<C: GenericClient>(c: &C, client: &str, now: i64, since: i64) -> Result<u32> {
    exec(c, DROP_OLD_FAILURES, &[&since]).await?;
    let stmt = c.prepare_cached(COUNT_FAILURE).await?;
    let n: i32 = c.query_one(&stmt, &[&client, &now, &since]).await?.get(0);
    Ok(n.max(0) as u32)
}

pub(super) async fn count_hit<C: GenericClient>(c: &C, key: &[u8], window: i64) -> Result<u32> {
    let stmt = c.prepare_cached(COUNT_HIT).await?;
    let n: i32 = c.query_one(&stmt, &[&key, &window]).await?.get(0);
    Ok(n.max(0) as u32)
}
