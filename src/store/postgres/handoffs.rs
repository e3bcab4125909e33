//! The booth screen's handoffs in PostgreSQL (a few live at a time; expired ones go when
//! a new one starts).

use deadpool_postgres::GenericClient;

use super::access::exec;
use crate::error::Result;
use crate::store::handoffs::StoredHandoff;

const CREATE_HANDOFF: &str =
    "INSERT INTO kiosk_handoffs (id_digest, session_digest, sealed_token, expires_at) VALUES ($1, $2, $3, $4)";
pub(super) const DROP_EXPIRED_HANDOFFS: &str = "DELETE FROM kiosk_handoffs WHERE expires_at <= $1";
const LIVE_HANDOFF: &str =
    "SELECT session_digest, sealed_token FROM kiosk_handoffs WHERE id_digest = $1 AND expires_at > $2";
const END_HANDOFF: &str = "DELETE FROM kiosk_handoffs WHERE id_digest = $1";

pub(super) async fn create_handoff<C: GenericClient>(
    c: &C,
    id: &[u8],
    session: &[u8],
    sealed: &[u8],
    expires_at: i64,
    now: i64,
) -> Result<()> {
    exec(c, DROP_EXPIRED_HANDOFFS, &[&now]).await?;
    exec(c, CREATE_HANDOFF, &[&id, &session, &sealed, &expires_at]).await?;
    Ok(())
}

pub(super) async fn handoff<C: GenericClient>(c: &C, id: &[u8], now: i64) -> Result<Option<StoredHandoff>> {
    let stmt = c.prepare_cached(LIVE_HANDOFF).await?;
    Ok(c.query_opt(&stmt, &[&id, &now]).await?.map(|r| StoredHandoff {
        session: r.get(0),
        sealed_token: r.get(1),
    }))
}

pub(super) async fn end_handoff<C: GenericClient>(c: &C, id: &[u8]) -> Result<bool> {
    Ok(exec(c, END_HANDOFF, &[&id]).await? == 1)
}
