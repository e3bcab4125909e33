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

#[cfg(test)]
mod tests {
    use super::super::Sqlite;
    use crate::store::Backend;

    #[tokio::test]
    async fn sessions_flash_and_enrolment_are_kept_by_digest() {
        let db = Sqlite::temporary().unwrap();
        let d = vec![1u8; 32];
        db.create_staff_session(d.clone(), vec![7; 8], 100, 0).await.unwrap();
        let s = db.staff_session(d.clone()).await.unwrap().unwrap();
        assert_eq!((s.generation, s.created_at, s.last_seen), (vec![7; 8], 100, 100));
        assert!(s.flash.is_none() && s.enrolment.is_none());
        db.touch_staff_session(d.clone(), 160).await.unwrap();
        db.set_staff_flash(d.clone(), false, "no".into()).await.unwrap();
        db.set_staff_enrolment(d.clone(), Some((vec![9], 700))).await.unwrap();
        let s = db.staff_session(d.clone()).await.unwrap().unwrap();
        assert_eq!(s.last_seen, 160);
        assert_eq!(s.flash, Some((false, "no".into())));
        assert_eq!(s.enrolment, Some((vec![9], 700)));
        db.clear_staff_flash(d.clone()).await.unwrap();
        db.set_staff_enrolment(d.clone(), None).await.unwrap();
        let s = db.staff_session(d.clone()).await.unwrap().unwrap();
        assert!(s.flash.is_none() && s.enrolment.is_none());
        // A new login drops sessions idle since the cut-off, and logout ends one.
        let e = vec![2u8; 32];
        db.create_staff_session(e.clone(), vec![7; 8], 200, 160).await.unwrap();
        assert!(db.staff_session(d).await.unwrap().is_none());
        db.end_staff_session(e.clone()).await.unwrap();
        assert!(db.staff_session(e).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn enrolment_codes_work_once_before_they_expire() {
        let db = Sqlite::temporary().unwrap();
        db.create_enrolment_code(vec![1], 700, 100).await.unwrap();
        db.create_enrolment_code(vec![2], 150, 100).await.unwrap();
        assert!(db.enrolment_code_pending(vec![1], 100).await.unwrap());
        assert!(!db.redeem_enrolment_code(vec![3], 100).await.unwrap());
        assert!(db.redeem_enrolment_code(vec![1], 100).await.unwrap());
        assert!(!db.redeem_enrolment_code(vec![1], 100).await.unwrap());
        assert!(!db.enrolment_code_pending(vec![1], 100).await.unwrap());
        assert!(!db.enrolment_code_pending(vec![2], 150).await.unwrap());
        assert!(!db.redeem_enrolment_code(vec![2], 150).await.unwrap(), "expired");
    }

    #[tokio::test]
    async fn pruning_drops_only_what_has_ended() {
        let db = Sqlite::temporary().unwrap();
        db.create_staff_session(vec![1], vec![0], 100, 0).await.unwrap();
        db.create_staff_session(vec![2], vec![0], 500, 0).await.unwrap();
        db.create_enrolment_code(vec![1], 200, 100).await.unwrap();
        db.create_enrolment_code(vec![2], 900, 100).await.unwrap();
        db.create_handoff(vec![1], vec![0], vec![0], 200, 100).await.unwrap();
        db.create_handoff(vec![2], vec![0], vec![0], 900, 100).await.unwrap();
        db.count_login_failure("192.0.2.1".into(), 100, 40).await.unwrap();
        db.count_login_failure("192.0.2.2".into(), 500, 440).await.unwrap();
        db.prune_access(600, 300, 540 - 60).await.unwrap();
        assert!(db.staff_session(vec![1]).await.unwrap().is_none());
        assert!(db.staff_session(vec![2]).await.unwrap().is_some());
        // Expired rows are gone from the table, not only filtered by the reads.
        let rows = db
            .read(|c| {
                Ok(c.query_row(
                    "SELECT (SELECT COUNT(*) FROM kiosk_enrolments) || ' ' || (SELECT COUNT(*) FROM kiosk_handoffs) \
                     || ' ' || (SELECT group_concat(client) FROM staff_login_failures)",
                    [],
                    |r| r.get::<_, String>(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(rows, "1 1 192.0.2.2");
    }

    #[tokio::test]
    async fn failures_count_per_client_in_one_minute_windows() {
        let db = Sqlite::temporary().unwrap();
        let a = || "192.0.2.1".to_string();
        for n in 1..=3 {
            assert_eq!(
                db.count_login_failure(a(), 100 + n, 100 + n - 60).await.unwrap(),
                n as u32
            );
        }
        assert_eq!(db.count_login_failure("192.0.2.2".into(), 104, 44).await.unwrap(), 1);
        assert_eq!(db.login_failures(a(), 150 - 60).await.unwrap(), 3);
        // The window started at 101: a minute later it is over and starts again.
        assert_eq!(db.login_failures(a(), 161 - 60).await.unwrap(), 0);
        assert_eq!(db.count_login_failure(a(), 161, 161 - 60).await.unwrap(), 1);
        assert_eq!(db.login_failures(a(), 170 - 60).await.unwrap(), 1);
    }
}
