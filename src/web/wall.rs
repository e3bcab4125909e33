//! `/wall`: the booth's big screen. Counts and the latest seals, refreshed every
//! 10 seconds; no names or emails, because the page is public.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::routing::get;

use super::pages::{Layout, PageError};
use crate::app::AppState;
use crate::store::visitors::IssueState;

/// Routes for the wall display.
pub fn routes() -> Router<AppState> {
    Router::new().route("/wall", get(wall))
}

/// One seal on the wall.
pub struct Seal {
    svg: String,
    when: String,
}

/// `templates/wall.html`.
#[derive(Template, WebTemplate)]
#[template(path = "wall.html")]
pub struct WallPage {
    layout: Layout,
    issued: u64,
    printed: u64,
    seals: Vec<Seal>,
}

/// Colon hex back to the 32 fingerprint bytes.
fn fingerprint_bytes(hex: &str) -> Option<[u8; 32]> {
    let bytes: Vec<u8> = hex
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect::<Option<_>>()?;
    bytes.try_into().ok()
}

async fn wall(State(state): State<AppState>) -> Result<WallPage, PageError> {
    let fail = |e| PageError(state.clone(), e);
    let slug = &state.settings.conference.slug;
    let issued = state.store.issued_count(slug).await.map_err(fail)?;
    let printed = state.store.printed_count().await.map_err(fail)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let seals = state
        .store
        .recent_visitors(60)
        .await
        .map_err(fail)?
        .into_iter()
        .filter(|v| v.state == IssueState::Issued && &v.conference == slug && v.voided_at.is_none())
        .filter_map(|v| {
            let fp = fingerprint_bytes(v.fingerprint.as_deref()?)?;
            let mins = (now - v.created_at).max(0) / 60;
            let when = match mins {
                0 => "just now".to_string(),
                m if m < 60 => format!("{m} min ago"),
                m => format!("{} h ago", m / 60),
            };
            Some(Seal {
                svg: certstamp_printer::seal::svg(&fp),
                when,
            })
        })
        .take(24)
        .collect();
    Ok(WallPage {
        layout: Layout::new(&state),
        issued,
        printed,
        seals,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprints_round_trip() {
        let hex = crate::pki::colon_hex(&[0xab; 32]);
        assert_eq!(super::fingerprint_bytes(&hex), Some([0xab; 32]));
        assert_eq!(super::fingerprint_bytes("AB:CD"), None);
    }
}
