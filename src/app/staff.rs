//! What staff can change: void a certificate, void and reissue it with a new link (kept,
//! sealed, for staff to show until the visitor opens it), forget a visitor, decide about
//! print jobs, print a test ticket.

use super::App;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::store::jobs::JobState;
use crate::store::staff::Voided;
use crate::token::Token;

/// A freshly reissued link, for staff to show the visitor.
pub struct Reissued {
    /// The visitor's name.
    pub name: String,
    /// The new visitor row.
    pub id: String,
    /// The new link's token.
    pub token: Token,
}

/// A reissued link waiting for its visitor to open it.
pub struct Handoff {
    /// The new visitor row.
    pub visitor_id: String,
    /// Their name.
    pub name: String,
    /// The link (what the QR code holds).
    pub url: String,
    /// When it was reissued (Unix seconds).
    pub created_at: i64,
}

/// A staff decision about a print job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    /// Print the ticket again, as a new job.
    Reprint,
    /// Try a failed job now rather than after its backoff.
    Retry,
    /// Stop trying.
    Cancel,
    /// Send a waiting ticket to another printer.
    Move,
    /// An interrupted ticket did come out.
    Done,
}

impl JobAction {
    /// The action named in a staff URL.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "reprint" => Some(JobAction::Reprint),
            "retry" => Some(JobAction::Retry),
            "cancel" => Some(JobAction::Cancel),
            "move" => Some(JobAction::Move),
            "done" => Some(JobAction::Done),
            _ => None,
        }
    }
}

impl App {
    /// Tell live screens what voiding or forgetting changed, and sign the CRL again.
    async fn after_void(&self, visitor_id: &str, v: &Voided) {
        self.derived.forget(visitor_id);
        for job in &v.cancelled {
            self.queue.told(job, JobState::Cancelled);
        }
        self.events.emit(Event::Visitor {
            id: visitor_id.to_string(),
        });
        self.refresh_crl(&v.conference).await;
    }

    /// Void a visitor's certificate: its key is deleted, its link answers 410, its open
    /// tickets are cancelled, the guestbook refuses it, the CRL lists it, and the email
    /// is free for a reissue.
    pub async fn void(&self, visitor_id: &str) -> Result<()> {
        let Some(v) = self.store.void(visitor_id, "The certificate was voided.").await? else {
            return match self.store.visitor_by_id(visitor_id).await? {
                Some(_) => Err(Error::Invalid("This certificate was voided already.".into())),
                None => Err(Error::NotFound),
            };
        };
        tracing::info!(visitor = %visitor_id, "staff voided a certificate");
        self.after_void(visitor_id, &v).await;
        Ok(())
    }

    /// Void a certificate (unless it is already) and issue a new one, with a new link,
    /// for the same visitor. The link is kept sealed until the visitor opens it.
    pub async fn reissue(&self, visitor_id: &str) -> Result<Reissued> {
        let v = self.store.visitor_by_id(visitor_id).await?.ok_or(Error::NotFound)?;
        let Some(email) = v.email.clone() else {
            return Err(Error::Invalid(
                "This visitor's email was deleted; they need to fill in the form again.".into(),
            ));
        };
        if let Some(voided) = self.store.void(visitor_id, "The certificate was reissued.").await? {
            self.after_void(visitor_id, &voided).await;
        }
        let email_lc = email.to_ascii_lowercase();
        // A reissue keeps the visitor's choice about the wall.
        let (id, token) = self.register(v.name.clone(), email, email_lc, v.show_on_wall).await?;
        self.store
            .put_kept_link(&id, self.queue.seal_url(&self.page_url(&token)))
            .await?;
        tracing::info!(visitor = %visitor_id, new = %id, "staff reissued a certificate");
        Ok(Reissued {
            name: v.name,
            id,
            token,
        })
    }

    /// Delete a visitor's email, key and certificate now (the certificate names the
    /// email), void it, and let the backend drop its copies; name and serial stay.
    pub async fn forget(&self, visitor_id: &str) -> Result<()> {
        let Some(v) = self.store.forget(visitor_id).await? else {
            return match self.store.visitor_by_id(visitor_id).await? {
                Some(_) => Err(Error::Invalid("This visitor's data was deleted already.".into())),
                None => Err(Error::NotFound),
            };
        };
        self.store.erase_deleted().await?;
        if let Some(r) = &v.backend_ref
            && let Err(e) = self.issuer.forget(r).await
        {
            tracing::warn!(visitor = %visitor_id, error = %e, "could not delete the backend's copies; retention will retry");
        }
        tracing::info!(visitor = %visitor_id, "staff deleted a visitor's email and key");
        self.after_void(visitor_id, &v).await;
        Ok(())
    }

    /// Reissued links still waiting for their visitor.
    pub async fn handoffs(&self) -> Result<Vec<Handoff>> {
        let rows = self.store.kept_links().await?;
        Ok(rows
            .into_iter()
            .filter_map(|k| {
                let url = self
                    .queue
                    .open_url(&k.sealed_url)
                    .inspect_err(|e| tracing::warn!(visitor = %k.visitor_id, error = %e, "kept link does not open"))
                    .ok()?;
                Some(Handoff {
                    visitor_id: k.visitor_id,
                    name: k.name,
                    url,
                    created_at: k.created_at,
                })
            })
            .collect())
    }

    /// Staff no longer need to show a reissued link.
    pub async fn dismiss_handoff(&self, visitor_id: &str) -> Result<()> {
        if !self.store.take_kept_link(visitor_id).await? {
            return Err(Error::NotFound);
        }
        self.events.emit(Event::Visitor {
            id: visitor_id.to_string(),
        });
        Ok(())
    }

    /// Apply a staff decision to a print job; returns the notice to show. A reprint goes
    /// to `printer` (checked by [`App::pick_printer`]), or where the job went; a move
    /// needs one.
    pub async fn job_action(&self, job_id: i64, action: JobAction, printer: Option<String>) -> Result<String> {
        let job = self.store.job(job_id).await?.ok_or(Error::NotFound)?;
        let refused = || {
            Error::Invalid(format!(
                "{} is {} and cannot be changed that way.",
                job.key(),
                job.state.as_str()
            ))
        };
        let notice = match action {
            JobAction::Reprint => {
                let to = printer.unwrap_or_else(|| job.printer.clone());
                self.queue.reprint(&self.store, &job, &to).await?;
                if to == job.printer {
                    format!("Reprint of {} queued as a new job.", job.key())
                } else {
                    format!("Reprint of {} queued as a new job on {to}.", job.key())
                }
            }
            JobAction::Move => {
                let to = printer.ok_or_else(|| Error::Invalid("Pick the printer to send this ticket to.".into()))?;
                if !self.store.move_job(job_id, &to).await? {
                    return Err(refused());
                }
                self.queue.told(&job, job.state);
                self.queue.wake();
                format!("{} will print on {to}.", job.key())
            }
            JobAction::Retry => {
                if !self.store.retry_job(job_id).await? {
                    return Err(refused());
                }
                self.queue.wake();
                format!("{} will be tried again now.", job.key())
            }
            JobAction::Cancel | JobAction::Done => {
                let to = if action == JobAction::Cancel {
                    JobState::Cancelled
                } else {
                    JobState::Printed
                };
                if !self.store.staff_resolve_job(job_id, to).await? {
                    return Err(refused());
                }
                self.queue.told(&job, to);
                format!("{} marked {}.", job.key(), to.as_str())
            }
        };
        tracing::info!(job = %job.key(), ?action, "staff changed a print job");
        Ok(notice)
    }

    /// The ticket a job prints, as a PNG preview (rendered from its sealed link).
    pub async fn job_preview(&self, job_id: i64) -> Result<Vec<u8>> {
        let job = self.store.job(job_id).await?.ok_or(Error::NotFound)?;
        if job.payload.is_none() {
            return Err(Error::Absent(format!(
                "{} has no preview: its link was deleted with the visitor's data or the void.",
                job.key()
            )));
        }
        let rendered = self.queue.render(&self.store, &self.settings, &job).await?;
        tokio::task::spawn_blocking(move || rendered.preview_png())
            .await
            .map_err(Error::internal)
    }

    /// Print a sample ticket now; returns the notice to show.
    pub async fn test_ticket(&self) -> Result<String> {
        self.queue.print_test(&self.settings).await?;
        Ok("Test ticket sent to the printer.".into())
    }
}
