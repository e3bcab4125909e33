//! What staff can change: void a certificate, void and reissue it with a new link, and
//! decide about print jobs.

use super::App;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::store::jobs::JobState;
use crate::token::Token;

/// A freshly reissued link, for staff to show the visitor.
pub struct Reissued {
    /// The visitor's name.
    pub name: String,
    /// The new link's token.
    pub token: Token,
}

/// A staff decision about a print job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    /// Print the ticket again, as a new job.
    Reprint,
    /// Stop trying.
    Cancel,
    /// An interrupted ticket did come out.
    Done,
}

impl JobAction {
    /// The action named in a staff URL.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reprint" => Some(JobAction::Reprint),
            "cancel" => Some(JobAction::Cancel),
            "done" => Some(JobAction::Done),
            _ => None,
        }
    }
}

impl App {
    /// Void a visitor's certificate: no guestbook, and the email is free for a reissue.
    pub async fn void(&self, visitor_id: &str) -> Result<()> {
        if !self.store.void_visitor(visitor_id).await? {
            return Err(Error::NotFound);
        }
        tracing::info!(visitor = %visitor_id, "staff voided a certificate");
        self.events.emit(Event::Visitor {
            id: visitor_id.to_string(),
        });
        Ok(())
    }

    /// Void a certificate and issue a new one, with a new link, for the same visitor.
    pub async fn reissue(&self, visitor_id: &str) -> Result<Reissued> {
        let v = self.store.visitor_by_id(visitor_id).await?.ok_or(Error::NotFound)?;
        let Some(email) = v.email.clone() else {
            return Err(Error::Invalid(
                "This visitor's email was purged; they need to fill in the form again.".into(),
            ));
        };
        self.store.void_visitor(visitor_id).await?;
        self.events.emit(Event::Visitor {
            id: visitor_id.to_string(),
        });
        let email_lc = email.to_ascii_lowercase();
        // A reissue keeps the visitor's choice about the wall.
        let token = self.register(v.name.clone(), email, email_lc, v.show_on_wall).await?;
        tracing::info!(visitor = %visitor_id, "staff reissued a certificate");
        Ok(Reissued { name: v.name, token })
    }

    /// Apply a staff decision to a print job; returns the notice to show.
    pub async fn job_action(&self, job_id: i64, action: JobAction) -> Result<String> {
        let job = self.store.job(job_id).await?.ok_or(Error::NotFound)?;
        let notice = match action {
            JobAction::Reprint => {
                self.queue.reprint(&self.store, &job).await?;
                format!("Reprint of {} queued as a new job.", job.key())
            }
            JobAction::Cancel | JobAction::Done => {
                let to = if action == JobAction::Cancel {
                    JobState::Cancelled
                } else {
                    JobState::Printed
                };
                if !self.store.staff_resolve_job(job_id, to).await? {
                    return Err(Error::Invalid(format!(
                        "{} is {} and cannot be changed that way.",
                        job.key(),
                        job.state.as_str()
                    )));
                }
                self.queue.told(&job, to);
                format!("{} marked {}.", job.key(), to.as_str())
            }
        };
        tracing::info!(job = %job.key(), ?action, "staff changed a print job");
        Ok(notice)
    }
}
