//! `/staff`: the console. The part that changes (printer, reissued links, queue, the
//! visitor list) is also served alone at `/staff/live` with the same query, which the
//! page's script fetches again on every event from `/staff/events`; without JavaScript
//! a refresh link does the same.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::super::csrf::csrf_for;
use super::super::extract::Staff;
use super::super::pages::Layout;
use super::super::sse;
use crate::app::App;
use crate::clock::short_ts;
use crate::error::Error;
use crate::events::Event;
use crate::qr;
use crate::session::Flash;
use crate::store::jobs::{Job, JobState};
use crate::store::page::Cursor;
use crate::store::staff::{FILTERS, Filter, Search};
use crate::store::visitors::{IssueState, Visitor};

/// Visitors per page.
pub const PAGE_SIZE: u32 = 20;
/// Finished jobs listed after the open ones.
const DONE_JOBS: u32 = 8;

/// The console's query string: a search, or a filter; `after` is where the page starts
/// (a keyset cursor, `KEY.ID`, from the previous page's "Older" link).
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(default)]
pub struct ConsoleQuery {
    q: String,
    filter: String,
    after: String,
}

impl ConsoleQuery {
    fn filter(&self) -> Filter {
        Filter::parse(&self.filter)
    }

    fn after(&self) -> Result<Option<Cursor>, Error> {
        let a = self.after.trim();
        if a.is_empty() { Ok(None) } else { a.parse().map(Some) }
    }

    /// `/staff?...` for this view with another filter and start (search kept).
    fn href(&self, filter: Filter, after: Option<&Cursor>) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.q.trim().is_empty() {
            pairs.push(("q", self.q.trim().to_string()));
        }
        if filter != Filter::All {
            pairs.push(("filter", filter.as_str().to_string()));
        }
        if let Some(a) = after {
            pairs.push(("after", a.to_string()));
        }
        if pairs.is_empty() {
            return "/staff".into();
        }
        format!("/staff?{}", serde_urlencoded::to_string(&pairs).unwrap_or_default())
    }
}

/// A filter tab.
pub struct Tab {
    label: &'static str,
    count: u64,
    href: String,
    current: bool,
}

/// One visitor row.
pub struct VisitorRow {
    id: String,
    created: String,
    name: String,
    email: Option<String>,
    state: &'static str,
    /// CSS modifier for the state badge.
    tone: &'static str,
    /// Data deleted (retention or "forget").
    purged: bool,
    error: Option<String>,
    serial: String,
    can_void: bool,
    can_reissue: bool,
    can_forget: bool,
}

/// What the state column says.
fn state_of(v: &Visitor) -> (&'static str, &'static str) {
    match (v.voided_at.is_some(), v.state) {
        (true, _) => ("voided", "bad"),
        (false, IssueState::Issued) => ("issued", "ok"),
        (false, IssueState::Pending) => ("pending", "wait"),
        (false, IssueState::Failed) => ("failed", "bad"),
    }
}

impl VisitorRow {
    fn of(v: &Visitor, now: i64) -> Self {
        let (state, tone) = state_of(v);
        let live = v.voided_at.is_none();
        VisitorRow {
            id: v.id.clone(),
            created: short_ts(v.created_at, now),
            name: v.name.clone(),
            email: v.email.clone(),
            state,
            tone,
            purged: v.purged_at.is_some(),
            error: v.error.clone(),
            serial: v.serial.clone().unwrap_or_default(),
            can_void: live && v.state != IssueState::Failed,
            can_reissue: v.email.is_some(),
            can_forget: v.purged_at.is_none(),
        }
    }
}

/// One print job.
pub struct JobRow {
    id: i64,
    key: String,
    name: String,
    origin: String,
    state: &'static str,
    tone: &'static str,
    attempts: String,
    last_error: Option<String>,
    created: String,
    /// The printer it went to.
    printer: String,
    preview: bool,
    can_reprint: bool,
    can_retry: bool,
    can_cancel: bool,
    can_mark_done: bool,
    /// Waiting, so it can still go to another printer.
    can_move: bool,
}

/// "1 attempt", "2 attempts"; nothing before the first.
fn attempts(n: u32) -> String {
    match n {
        0 => String::new(),
        1 => "1 attempt".into(),
        n => format!("{n} attempts"),
    }
}

impl JobRow {
    fn of(j: &Job, name: String, now: i64) -> Self {
        let tone = match j.state {
            JobState::Printed => "ok",
            JobState::Failed | JobState::Interrupted => "bad",
            JobState::Cancelled => "off",
            JobState::Queued | JobState::Printing => "wait",
        };
        JobRow {
            id: j.id,
            key: j.key(),
            name,
            origin: j.origin.clone(),
            state: j.state.as_str(),
            tone,
            attempts: attempts(j.attempts),
            last_error: j.last_error.clone(),
            created: short_ts(j.created_at, now),
            printer: j.printer.clone(),
            preview: j.payload.is_some(),
            can_reprint: j.payload.is_some() && !j.state.is_open(),
            can_retry: j.state == JobState::Failed,
            can_cancel: matches!(j.state, JobState::Queued | JobState::Failed | JobState::Interrupted),
            can_mark_done: j.state == JobState::Interrupted,
            can_move: matches!(j.state, JobState::Queued | JobState::Failed),
        }
    }
}

/// A reissued link waiting for its visitor.
pub struct HandoffView {
    visitor_id: String,
    name: String,
    url: String,
    qr_svg: String,
    since: String,
}

/// One printer as its worker last reported it.
pub struct PrinterView {
    name: String,
    status: String,
    seen: String,
    served: bool,
}

/// The part of the console that changes while staff watch.
pub struct Live {
    csrf: String,
    /// This view's URL, for forms to come back to.
    back: String,
    printer: String,
    printer_health: String,
    /// Badge modifier: ready, not checked yet, or a problem.
    printer_tone: &'static str,
    printer_since: String,
    /// Every printer a worker reported to the database (several with print agents).
    printers: Vec<PrinterView>,
    /// The printers a reprint can go to; asked only when there are several.
    choices: Vec<String>,
    handoffs: Vec<HandoffView>,
    jobs: Vec<JobRow>,
    tabs: Vec<Tab>,
    visitors: Vec<VisitorRow>,
    search: String,
    /// Visitors the filter lists (without a search).
    shown: u64,
    /// Back to the newest page, when this one starts further down.
    newest: Option<String>,
    /// The next, older page.
    next: Option<String>,
    updated: String,
}

impl Live {
    async fn load(app: &App, q: &ConsoleQuery, csrf: String) -> Result<Self, Error> {
        let now = crate::clock::now_ts();
        let filter = q.filter();
        let after = q.after()?;
        let search = Search::of(&q.q);
        let searching = search.is_some();
        let page = app.store.console_page(filter, search, after.clone(), PAGE_SIZE).await?;
        let counts = app.store.console_counts().await?;
        let filter = if searching { Filter::All } else { filter };
        let jobs = app.store.console_jobs(DONE_JOBS).await?;
        let mut handoffs = Vec::new();
        for h in app.handoffs().await? {
            handoffs.push(HandoffView {
                qr_svg: qr::svg(&h.url, "qr")?,
                visitor_id: h.visitor_id,
                name: h.name,
                url: h.url,
                since: short_ts(h.created_at, now),
            });
        }
        let printers = app.store.printers().await?;
        let choices = crate::app::served_names(&printers, &app.settings.printer.print_to);
        let health = app.queue.health();
        Ok(Live {
            csrf,
            back: q.href(filter, after.as_ref()),
            printer: app.settings.printer.uri.clone(),
            printer_tone: match health.as_str() {
                "ready" => "ok",
                "not checked yet" => "wait",
                _ => "bad",
            },
            printer_health: health,
            printer_since: short_ts(app.queue.health_since(), now),
            printers: printers
                .into_iter()
                .map(|p| PrinterView {
                    seen: short_ts(p.seen_at, now),
                    name: p.name,
                    status: p.status,
                    served: p.served,
                })
                .collect(),
            choices,
            handoffs,
            jobs: jobs.into_iter().map(|(j, name)| JobRow::of(&j, name, now)).collect(),
            tabs: FILTERS
                .iter()
                .zip(counts)
                .map(|(f, count)| Tab {
                    label: f.label(),
                    count,
                    href: q.href(*f, None),
                    current: *f == filter,
                })
                .collect(),
            shown: FILTERS
                .iter()
                .zip(counts)
                .find(|(f, _)| **f == filter)
                .map_or(0, |(_, n)| n),
            visitors: page.items.iter().map(|v| VisitorRow::of(v, now)).collect(),
            search: q.q.trim().to_string(),
            newest: after.is_some().then(|| q.href(filter, None)),
            next: page.next.as_ref().map(|c| q.href(filter, Some(c))),
            updated: short_ts(now, now),
        })
    }
}

/// A booth-screen enrolment link on show.
pub struct EnrolmentView {
    url: String,
    qr_svg: String,
    minutes_left: u64,
}

/// `templates/staff.html`.
#[derive(Template, WebTemplate)]
#[template(path = "staff.html")]
pub struct ConsolePage {
    layout: Layout,
    issuer_kind: &'static str,
    warning: Option<String>,
    flash: Option<Flash>,
    enrolment: Option<EnrolmentView>,
    live: Live,
}

/// `templates/staff_live.html`, alone.
#[derive(Template, WebTemplate)]
#[template(path = "staff_live.html")]
pub struct LiveFragment {
    live: Live,
}

/// The console; without a session, the login form.
pub async fn page(
    State(app): State<App>,
    staff: Result<Staff, Error>,
    headers: HeaderMap,
    Query(q): Query<ConsoleQuery>,
) -> Result<Response, Error> {
    let staff = match staff {
        Ok(s) => s,
        Err(Error::Forbidden(m)) => return Err(Error::Forbidden(m)),
        Err(_) => return Ok(Redirect::to("/staff/login").into_response()),
    };
    let (csrf, set) = csrf_for(&app, &headers);
    let enrolment = match app.enrolment(&staff.session).await? {
        Some(e) => {
            let url = format!("{}/kiosk/enrol/{}", app.settings.public_url, e.code);
            Some(EnrolmentView {
                qr_svg: qr::svg(&url, "qr")?,
                url,
                minutes_left: (e.expires_at - crate::store::now_ts())
                    .max(0)
                    .unsigned_abs()
                    .div_ceil(60),
            })
        }
        None => None,
    };
    let page = ConsolePage {
        layout: Layout::new(&app),
        issuer_kind: app.issuer.kind(),
        warning: app.settings.public_url_warning(),
        flash: app.take_flash(&staff.session).await?,
        enrolment,
        live: Live::load(&app, &q, csrf).await?,
    };
    Ok(super::with_csrf_cookie(page, set))
}

/// The changing part alone, for the page's script.
pub async fn live(
    State(app): State<App>,
    _: Staff,
    headers: HeaderMap,
    Query(q): Query<ConsoleQuery>,
) -> Result<Response, Error> {
    let (csrf, _) = csrf_for(&app, &headers);
    Ok(LiveFragment {
        live: Live::load(&app, &q, csrf).await?,
    }
    .into_response())
}

/// What staff screens hear about: visitors, jobs and the printer (ids and states only).
pub async fn events(State(app): State<App>, _: Staff) -> Response {
    let pick = |e: &Event| (!matches!(e, Event::Guestbook { .. })).then(|| sse::as_json(e));
    sse::stream(&app, pick).into_response()
}

/// A job's ticket as it prints, rendered on demand from its sealed link.
pub async fn preview(State(app): State<App>, _: Staff, Path(id): Path<i64>) -> Result<Response, Error> {
    let png = app.job_preview(id).await?;
    Ok(super::super::bytes_response("image/png", png))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_have_their_plural() {
        assert_eq!(attempts(0), "");
        assert_eq!(attempts(1), "1 attempt");
        assert_eq!(attempts(2), "2 attempts");
    }

    #[test]
    fn console_links_keep_the_search() {
        let q = ConsoleQuery {
            q: " Zoë & co ".into(),
            filter: "voided".into(),
            after: String::new(),
        };
        assert_eq!(q.after().unwrap(), None);
        assert_eq!(q.filter(), Filter::Voided);
        let c = Cursor {
            key: 17,
            id: "ab12".into(),
        };
        assert_eq!(
            q.href(Filter::Voided, Some(&c)),
            "/staff?q=Zo%C3%AB+%26+co&filter=voided&after=17.ab12"
        );
        assert_eq!(ConsoleQuery::default().href(Filter::All, None), "/staff");
        let bad = ConsoleQuery {
            after: "nonsense".into(),
            ..ConsoleQuery::default()
        };
        assert!(bad.after().is_err());
    }
}
