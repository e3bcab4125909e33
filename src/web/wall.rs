//! `/wall`: the booth's big screen. Counts, the latest seals (with a first name only for
//! visitors who ticked "show my name on the booth wall"), the latest guestbook messages
//! and a QR code to the form. `/wall/events` says when something changed and the page
//! fetches `/wall/live`, the same fragment the page starts with; it never shows an email.

use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::pages::{Layout, noun};
use crate::app::App;
use crate::clock::{ago, human_ts, now_ts};
use crate::error::Error;
use crate::events::Event;
use crate::qr;
use crate::store::jobs::JobState;
use crate::store::visitors::SealTile;
use crate::validate::{first_name, visible};

/// Seals on the wall: two rows of six fill a 1920x1080 screen.
pub const SEALS: u32 = 12;
/// Guestbook messages on the wall.
pub const MESSAGES: u32 = 4;

/// Routes for the wall display.
pub fn routes() -> Router<App> {
    Router::new()
        .route("/wall", get(wall))
        .route("/wall/live", get(live))
        .route("/wall/events", get(events))
}

/// One seal: drawn from the fingerprint, captioned with a first name or "a visitor".
pub struct SealView {
    svg: std::sync::Arc<String>,
    name: String,
    named: bool,
    at: i64,
    when: String,
    title: String,
}

/// One guestbook message as the wall shows it.
pub struct MessageView {
    name: String,
    message: String,
    star: bool,
    at: i64,
    when: String,
}

/// What changes on the wall: the live part of the page, also served alone.
pub struct Live {
    now: i64,
    issued: u64,
    issued_label: String,
    printed: u64,
    printed_label: String,
    entries: u64,
    entries_label: String,
    seals: Vec<SealView>,
    messages: Vec<MessageView>,
}

/// `templates/wall.html`.
#[derive(Template, WebTemplate)]
#[template(path = "wall.html")]
pub struct WallPage {
    layout: Layout,
    live: Live,
    join_qr: String,
    join_url: String,
}

/// `templates/wall_live.html`: the fragment the page fetches on every change.
#[derive(Template, WebTemplate)]
#[template(path = "wall_live.html")]
pub struct WallLive {
    live: Live,
}

/// Colon hex back to the 32 fingerprint bytes.
pub(super) fn fingerprint_bytes(hex: &str) -> Option<[u8; 32]> {
    let bytes: Vec<u8> = hex
        .split(':')
        .map(|b| u8::from_str_radix(b, 16).ok())
        .collect::<Option<_>>()?;
    bytes.try_into().ok()
}

/// A seal as shown: a first name only where the visitor agreed. `svg` draws it (the
/// app keeps drawn seals).
fn seal_view(s: &SealTile, now: i64, svg: impl FnOnce(&[u8; 32]) -> std::sync::Arc<String>) -> Option<SealView> {
    let fp = fingerprint_bytes(&s.fingerprint)?;
    let first = s.name.as_deref().map(first_name).filter(|n| !n.is_empty());
    Some(SealView {
        svg: svg(&fp),
        named: first.is_some(),
        name: first.map(|n| visible(&n)).unwrap_or_else(|| "a visitor".into()),
        at: s.issued_at,
        when: ago(now - s.issued_at),
        title: human_ts(s.issued_at),
    })
}

async fn load(app: &App) -> Result<Live, Error> {
    let slug = &app.settings.conference.slug;
    let issued = app.store.issued_count(slug).await?;
    let printed = app.store.printed_count().await?;
    let (entries, total) = app.store.entries_page(MESSAGES, 0).await?;
    let now = now_ts();
    // Issued, unvoided, this conference, newest first: one indexed query, no PEMs.
    let seals = app
        .store
        .seals_page(slug, None, SEALS)
        .await?
        .items
        .iter()
        .filter_map(|s| seal_view(s, now, |fp| app.seal_svg(fp)))
        .collect();
    Ok(Live {
        now,
        issued,
        issued_label: noun(issued, "certificate issued", "certificates issued").to_string(),
        printed,
        printed_label: noun(printed, "ticket printed", "tickets printed").to_string(),
        entries: total,
        entries_label: noun(total, "guestbook entry", "guestbook entries").to_string(),
        seals,
        messages: entries
            .iter()
            .map(|e| MessageView {
                name: visible(&e.name),
                message: visible(&e.message),
                star: e.star,
                at: e.signed_at,
                when: ago(now - e.signed_at),
            })
            .collect(),
    })
}

/// How long a rendered wall serves everyone when nothing happens: its relative times
/// ("2 min ago") are kept true in the browser by `wall.js`.
const SHARED_FOR: Duration = Duration::from_secs(10);

async fn wall(State(app): State<App>) -> Result<Response, Error> {
    let body = app
        .shared_render("wall", SHARED_FOR, async || {
            let join_url = format!("{}/", app.settings.public_url);
            let page = WallPage {
                layout: Layout::new(&app),
                live: load(&app).await?,
                join_qr: qr::svg(&join_url, "qr join-qr")?,
                join_url,
            };
            page.render().map_err(Error::internal)
        })
        .await?;
    Ok(super::shared_html(body))
}

async fn live(State(app): State<App>) -> Result<Response, Error> {
    let body = app
        .shared_render("wall/live", SHARED_FOR, async || {
            WallLive {
                live: load(&app).await?,
            }
            .render()
            .map_err(Error::internal)
        })
        .await?;
    let mut res = super::shared_html(body);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Whether the wall shows something that this event changes.
fn changes_the_wall(e: &Event) -> bool {
    match e {
        Event::Visitor { .. } | Event::Guestbook { .. } => true,
        Event::Job { state, .. } => *state == JobState::Printed,
        Event::Printer { .. } => false,
        Event::Resync => true,
    }
}

/// A public stream: it says only that something changed, never who or what.
async fn events(State(app): State<App>) -> Response {
    super::sse::stream(&app, |e| {
        changes_the_wall(e).then(|| SseEvent::default().event("change").data("{}"))
    })
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_round_trip() {
        let hex = crate::pki::colon_hex(&[0xab; 32]);
        assert_eq!(fingerprint_bytes(&hex), Some([0xab; 32]));
        assert_eq!(fingerprint_bytes("AB:CD"), None);
    }

    #[test]
    fn a_seal_names_only_who_agreed_and_only_by_first_name() {
        let draw = |fp: &[u8; 32]| std::sync::Arc::new(certstamp_printer::seal::svg(fp));
        let named = SealTile {
            id: "v".into(),
            fingerprint: crate::pki::colon_hex(&[7; 32]),
            issued_at: 1000,
            name: Some("Ada Lovelace".into()),
        };
        let v = seal_view(&named, 1130, draw).unwrap();
        assert_eq!((v.name.as_str(), v.named, v.when.as_str()), ("Ada", true, "2 min ago"));
        let anonymous = SealTile { name: None, ..named };
        let v = seal_view(&anonymous, 1000, draw).unwrap();
        assert_eq!((v.name.as_str(), v.named), ("a visitor", false));
        assert!(v.svg.starts_with("<svg"));
    }

    #[test]
    fn only_issuances_guestbook_entries_and_printed_tickets_change_the_wall() {
        assert!(changes_the_wall(&Event::Visitor { id: "v".into() }));
        assert!(changes_the_wall(&Event::Guestbook { id: 1 }));
        let job = |state| Event::Job {
            id: 1,
            visitor: "v".into(),
            state,
        };
        assert!(changes_the_wall(&job(JobState::Printed)));
        assert!(!changes_the_wall(&job(JobState::Queued)));
        assert!(!changes_the_wall(&Event::Printer { status: "ok".into() }));
    }
}
