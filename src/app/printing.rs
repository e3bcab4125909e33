//! Asking for a ticket from the certificate page. The queue de-duplicates double taps.

use super::App;
use crate::error::{Error, Result};
use crate::store::jobs::{Enqueued, Job, Origin};
use crate::store::visitors::{IssueState, Visitor};
use crate::token::Token;

impl App {
    /// Queue the visitor's ticket (it prints once the certificate exists).
    pub async fn request_print(&self, token: &Token, v: &Visitor) -> Result<Enqueued> {
        if v.state == IssueState::Failed {
            return Err(Error::NotReady);
        }
        self.queue
            .enqueue(&self.store, &v.id, Origin::Visitor, &self.page_url(token))
            .await
    }

    /// The visitor's latest ticket, if any.
    pub async fn latest_job(&self, v: &Visitor) -> Result<Option<Job>> {
        self.store.latest_job_for(&v.id).await
    }
}
