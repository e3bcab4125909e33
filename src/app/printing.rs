//! Asking for a ticket from the certificate page, on the printer the visitor picked
//! where several serve the booth. The queue de-duplicates double taps.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::App;
use crate::error::{Error, Result};
use crate::store::jobs::{Enqueued, Job, Origin, PrinterRow};
use crate::store::visitors::{IssueState, Visitor};
use crate::token::Token;

impl App {
    /// Queue the visitor's ticket (it prints once the certificate exists) on `printer`,
    /// one of [`App::printers_served`] (see [`App::pick_printer`]).
    pub async fn request_print(&self, token: &Token, v: &Visitor, printer: &str) -> Result<Enqueued> {
        if v.state == IssueState::Failed {
            return Err(Error::NotReady);
        }
        self.queue
            .enqueue_to(&self.store, &v.id, Origin::Visitor, &self.page_url(token), printer)
            .await
    }

    /// The printers a page offers, by name: [`App::printers_served`] as read at most
    /// [`CHOICE_TTL`] ago. Every certificate page shows the picker, and re-reading the
    /// printers table on each view cost a second store trip per page; a printer that
    /// just came or went shows a moment later, and a form naming one is checked afresh.
    pub async fn printer_choice(&self) -> Result<Arc<[String]>> {
        if let Some(names) = self.printer_choice.fresh(Instant::now()) {
            return Ok(names);
        }
        let names: Arc<[String]> = self.printers_served().await?.into();
        self.printer_choice.keep(Instant::now(), names.clone());
        Ok(names)
    }

    /// The printers a ticket can be sent to now, by name: every printer a worker serves
    /// (agents and kiosks report theirs to the database), and this kiosk's own
    /// (`--print-to`) even while its worker is away. With one, nobody is asked.
    pub async fn printers_served(&self) -> Result<Vec<String>> {
        Ok(served_names(
            &self.store.printers().await?,
            &self.settings.printer.print_to,
        ))
    }

    /// The printer a form asked for: this kiosk's own when it names none, the named one
    /// when it is among [`App::printers_served`], and otherwise a refusal: never a job
    /// for a printer nobody serves.
    pub async fn pick_printer(&self, wanted: Option<&str>) -> Result<String> {
        match wanted.map(str::trim).filter(|w| !w.is_empty()) {
            None => Ok(self.settings.printer.print_to.clone()),
            Some(w) if self.printers_served().await?.iter().any(|n| n == w) => Ok(w.to_string()),
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

/// How old the printer choice a page shows may be.
pub const CHOICE_TTL: Duration = Duration::from_secs(1);

/// The names of the printers served in `rows`, and `own` whatever its state, sorted.
pub fn served_names(rows: &[PrinterRow], own: &str) -> Vec<String> {
    let mut names: Vec<String> = rows.iter().filter(|p| p.served).map(|p| p.name.clone()).collect();
    if !names.iter().any(|n| n == own) {
        names.push(own.to_string());
    }
    names.sort();
    names
}

/// The last printer choice read, and when.
#[derive(Default)]
pub(super) struct ChoiceCache(Mutex<Option<(Instant, Arc<[String]>)>>);

impl ChoiceCache {
    /// The kept choice if it was read less than [`CHOICE_TTL`] before `now`.
    fn fresh(&self, now: Instant) -> Option<Arc<[String]>> {
        let kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.as_ref()
            .filter(|(at, _)| now.saturating_duration_since(*at) < CHOICE_TTL)
            .map(|(_, names)| names.clone())
    }

    fn keep(&self, at: Instant, names: Arc<[String]>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((at, names));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, served: bool) -> PrinterRow {
        PrinterRow {
            name: name.into(),
            status: "ready".into(),
            seen_at: 0,
            served,
        }
    }

    #[test]
    fn the_choice_is_the_served_printers_and_this_kiosks_own_sorted() {
        let rows = [row("front", true), row("back", true), row("gone", false)];
        assert_eq!(served_names(&rows, "front"), ["back", "front"]);
        assert_eq!(served_names(&rows, "side"), ["back", "front", "side"]);
        assert_eq!(served_names(&[], "front"), ["front"]);
    }

    #[test]
    fn a_kept_choice_is_used_until_it_is_a_ttl_old() {
        let cache = ChoiceCache::default();
        let t0 = Instant::now();
        assert!(cache.fresh(t0).is_none(), "nothing read yet");
        cache.keep(t0, vec!["front".to_string()].into());
        assert_eq!(
            cache.fresh(t0 + CHOICE_TTL / 2).as_deref(),
            Some(&["front".to_string()][..])
        );
        assert!(cache.fresh(t0 + CHOICE_TTL).is_none(), "read again after the TTL");
    }
}
