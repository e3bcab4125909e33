//! Asking for a ticket from the certificate page, on the printer the visitor picked
//! where several serve the booth. The queue de-duplicates double taps.

use super::App;
use crate::error::{Error, Result};
use crate::store::jobs::{Enqueued, Job, Origin};
use crate::store::visitors::{IssueState, Visitor};
use crate::token::Token;

impl App {
    /// Queue the visitor's ticket (it prints once the certificate exists) on `printer`,
    /// one of [`App::printer_choice`] (see [`App::pick_printer`]).
    pub async fn request_print(&self, token: &Token, v: &Visitor, printer: &str) -> Result<Enqueued> {
        if v.state == IssueState::Failed {
            return Err(Error::NotReady);
        }
        self.queue
            .enqueue_to(&self.store, &v.id, Origin::Visitor, &self.page_url(token), printer)
            .await
    }

    /// The printers a ticket can be sent to, by name: every printer a worker serves now
    /// (agents and kiosks report theirs to the database), and this kiosk's own
    /// (`--print-to`) even while its worker is away. With one, nobody is asked.
    pub async fn printer_choice(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .store
            .printers()
            .await?
            .into_iter()
            .filter(|p| p.served)
            .map(|p| p.name)
            .collect();
        let own = &self.settings.printer.print_to;
        if !names.contains(own) {
            names.push(own.clone());
        }
        names.sort();
        Ok(names)
    }

    /// The printer a form asked for: this kiosk's own when it names none, the named one
    /// when it is among [`App::printer_choice`], and otherwise a refusal: never a job
    /// for a printer nobody serves.
    pub async fn pick_printer(&self, wanted: Option<&str>) -> Result<String> {
        match wanted.map(str::trim).filter(|w| !w.is_empty()) {
            None => Ok(self.settings.printer.print_to.clone()),
            Some(w) if self.printer_choice().await?.iter().any(|n| n == w) => Ok(w.to_string()),
            Some(_) => Err(Error::Invalid(
                "That printer is not serving the booth right now, so nothing was queued. Go back and pick a printer from the list."
                    .into(),
            )),
        }
    }

    /// The visitor's latest ticket, if any.
    pub async fn latest_job(&self, v: &Visitor) -> Result<Option<Job>> {
        self.store.latest_job_for(&v.id).await
    }
}
