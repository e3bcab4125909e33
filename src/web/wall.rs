//! `/wall`: the booth's big screen. Counts and the latest seals, refreshed every
//! 10 seconds; no names or emails, because the page is public.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::routing::get;

use super::pages::Layout;
use crate::app::App;
use crate::error::Error;

/// Routes for the wall display.
pub fn routes() -> Router<App> {
    Router::new().route("/wall", get(wall))
}

/// One seal on the wall.
pub struct Seal {
    svg: std::sync::Arc<String>,
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

async fn wall(State(app): State<App>) -> Result<WallPage, Error> {
    let slug = &app.settings.conference.slug;
    let issued = app.store.issued_count(slug).await?;
    let printed = app.store.printed_count().await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // Issued, unvoided, this conference, newest first: one indexed query, no PEMs.
    let seals = app
        .store
        .seals_page(slug, None, 24)
        .await?
        .items
        .into_iter()
        .filter_map(|s| {
            let fp = fingerprint_bytes(&s.fingerprint)?;
            let mins = (now - s.issued_at).max(0) / 60;
            let when = match mins {
                0 => "just now".to_string(),
                m if m < 60 => format!("{m} min ago"),
                m => format!("{} h ago", m / 60),
            };
            Some(Seal {
                svg: app.seal_svg(&fp),
                when,
            })
        })
        .collect();
    Ok(WallPage {
        layout: Layout::new(&app),
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
