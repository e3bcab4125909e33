//! What staff do from the console. Void, "void & reissue" and "forget" first show a
//! confirmation page (`GET /staff/visitors/{id}/{action}`) whose form posts to the same
//! address. Every POST checks the form token and answers 303 to the console view it came
//! from, with the outcome in the session's flash.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::super::csrf::{check_csrf, csrf_for};
use super::super::extract::Staff;
use super::super::forms::FormBody;
use super::super::pages::Layout;
use super::{back_to, see_console, staff_message, with_csrf_cookie};
use crate::app::{App, JobAction};
use crate::error::Error;

/// An action on a visitor that needs a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VisitorAction {
    Void,
    Reissue,
    Forget,
}

impl VisitorAction {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "void" => Some(VisitorAction::Void),
            "reissue" => Some(VisitorAction::Reissue),
            "forget" => Some(VisitorAction::Forget),
            _ => None,
        }
    }

    fn path(self) -> &'static str {
        match self {
            VisitorAction::Void => "void",
            VisitorAction::Reissue => "reissue",
            VisitorAction::Forget => "forget",
        }
    }
}

/// A form's token and the console view to go back to.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ActionForm {
    pub(super) csrf: String,
    pub(super) back: String,
}

/// `?back=` on a confirmation page.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct BackQuery {
    back: String,
}

/// `templates/staff_confirm.html`.
#[derive(Template, WebTemplate)]
#[template(path = "staff_confirm.html")]
pub struct ConfirmPage {
    layout: Layout,
    csrf: String,
    back: String,
    id: String,
    action: &'static str,
    title: String,
    consequences: Vec<&'static str>,
    button: &'static str,
    name: String,
    email: Option<String>,
    serial: Option<String>,
}

/// "Are you sure?", with the one form that does it.
pub async fn confirm(
    State(app): State<App>,
    _: Staff,
    Path((id, action)): Path<(String, String)>,
    Query(q): Query<BackQuery>,
    headers: HeaderMap,
) -> Result<Response, Error> {
    let action = VisitorAction::parse(&action).ok_or(Error::NotFound)?;
    let v = app.store.visitor_by_id(&id).await?.ok_or(Error::NotFound)?;
    let (title, consequences, button): (String, Vec<&'static str>, &'static str) = match action {
        VisitorAction::Void => (
            format!("Void {}’s certificate?", v.name),
            vec![
                "The certificate is listed in its conference’s CRL and the guestbook refuses it.",
                "Its private key is deleted; its link, download and print button answer “gone”.",
                "Tickets still waiting to print are cancelled.",
                "The email stays, so the visitor can be reissued a certificate later.",
            ],
            "Void the certificate",
        ),
        VisitorAction::Reissue => (
            format!("Void {}’s certificate and issue a new one?", v.name),
            vec![
                if v.voided_at.is_some() {
                    "The current certificate is void already."
                } else {
                    "The current certificate is voided: CRL, key deleted, old link gone."
                },
                "A new certificate is issued to the same name and email, with a new link.",
                "The console shows the new link’s QR code until the visitor opens it.",
            ],
            "Void and reissue",
        ),
        VisitorAction::Forget => (
            format!("Delete {}’s email and key now?", v.name),
            vec![
                "The email, the private key, the certificate (it contains the email) and the visitor's guestbook entries are deleted from the kiosk.",
                "The certificate is voided and listed in the CRL; copies kept by cert-manager are deleted.",
                "The name and serial stay in the console. This cannot be undone.",
            ],
            "Delete email and key",
        ),
    };
    let (csrf, set) = csrf_for(&app, &headers);
    let page = ConfirmPage {
        layout: Layout::new(&app),
        csrf,
        back: back_to(&q.back),
        id: v.id.clone(),
        action: action.path(),
        title,
        consequences,
        button,
        name: v.name.clone(),
        email: v.email.clone(),
        serial: v.serial.clone(),
    };
    Ok(with_csrf_cookie(page, set))
}

/// Flash what happened and go back; internal errors get the error page.
async fn done(app: &App, staff: &Staff, back: &str, outcome: Result<String, Error>) -> Result<Response, Error> {
    match outcome {
        Ok(notice) => app.flash(&staff.session, true, notice).await?,
        Err(e) => match staff_message(&e) {
            Some(m) => app.flash(&staff.session, false, m).await?,
            None => return Err(e),
        },
    }
    Ok(see_console(back))
}

/// Void, reissue or forget (the confirmation page's form).
pub async fn visitor_action(
    State(app): State<App>,
    staff: Staff,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    FormBody(form): FormBody<ActionForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    let action = VisitorAction::parse(&action).ok_or(Error::NotFound)?;
    let outcome = match action {
        VisitorAction::Void => app.void(&id).await.map(|()| "Certificate voided.".to_string()),
        VisitorAction::Reissue => app.reissue(&id).await.map(|r| {
            format!(
                "Old certificate voided; a new one is issued for {}. Let them scan the new code below.",
                r.name
            )
        }),
        VisitorAction::Forget => app
            .forget(&id)
            .await
            .map(|()| "The visitor’s email and key are deleted, and the certificate voided.".to_string()),
    };
    done(&app, &staff, &form.back, outcome).await
}

/// Stop showing a reissued link.
pub async fn dismiss_handoff(
    State(app): State<App>,
    staff: Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    FormBody(form): FormBody<ActionForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    let outcome = app
        .dismiss_handoff(&id)
        .await
        .map(|()| "The new link is no longer shown here; it still works.".to_string());
    done(&app, &staff, &form.back, outcome).await
}

/// A job action's form: the console's fields, and for a reprint the printer picked
/// where several serve the booth.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct JobForm {
    csrf: String,
    back: String,
    printer: String,
}

/// Reprint (on the printer picked, if any), retry, cancel, or "it printed".
pub async fn job_action(
    State(app): State<App>,
    staff: Staff,
    Path((id, action)): Path<(i64, String)>,
    headers: HeaderMap,
    FormBody(form): FormBody<JobForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    let action = JobAction::parse(&action).ok_or(Error::NotFound)?;
    // An unknown printer is a 400 page, not a flash: nothing was done.
    let printer = match form.printer.trim() {
        "" => None,
        wanted => Some(app.pick_printer(Some(wanted)).await?),
    };
    let outcome = app.job_action(id, action, printer).await;
    done(&app, &staff, &form.back, outcome).await
}

/// Print a sample ticket now.
pub async fn test_ticket(
    State(app): State<App>,
    staff: Staff,
    headers: HeaderMap,
    FormBody(form): FormBody<ActionForm>,
) -> Result<Response, Error> {
    check_csrf(&app, &headers, &form.csrf)?;
    let outcome = app.test_ticket().await;
    done(&app, &staff, &form.back, outcome).await
}
