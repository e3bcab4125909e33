//! From a submitted form to a stored certificate, whichever backend signs: the visitor
//! row is durable before the issuer is asked, and every result, on the spot or reported
//! later, goes through [`App::record`]: store it, then wake the print queue.

use std::net::IpAddr;
use std::time::Duration;

use super::App;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::issuer::{LeafRequest, Outcome, PendingIssuance, Submitted, public_failure};
use crate::pki::IssuedCert;
use crate::store::jobs::{Enqueued, JobState, Origin};
use crate::store::visitors::{IssuedRow, NewVisitor};
use crate::token::Token;
use crate::validate;

/// The form as typed.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    /// Display name.
    pub name: String,
    /// Email.
    pub email: String,
    /// The consent box was ticked.
    pub consent: bool,
    /// "Show my name on the booth wall" was ticked (off unless ticked).
    pub show_on_wall: bool,
}

/// A submission that passed every rule.
#[derive(Debug, Clone)]
pub struct Valid {
    name: String,
    email: String,
    email_lc: String,
    show_on_wall: bool,
}

/// Why a submission was refused, per field, in words for the visitor.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors {
    /// About the name.
    pub name: Option<String>,
    /// About the email.
    pub email: Option<String>,
    /// About the consent box.
    pub consent: Option<String>,
}

impl App {
    /// Check a submission against the form's rules and the issuer's own.
    pub fn check(&self, s: &Submission) -> std::result::Result<Valid, FieldErrors> {
        let name = validate::name(&s.name).and_then(|n| match self.issuer.name_rule(&n) {
            Some(rule) => Err(rule.to_string()),
            None => Ok(n),
        });
        let email = validate::email(&s.email);
        match (name, email, s.consent) {
            (Ok(name), Ok((email, email_lc)), true) => Ok(Valid {
                name,
                email,
                email_lc,
                show_on_wall: s.show_on_wall,
            }),
            (name, email, consent) => Err(FieldErrors {
                name: name.err(),
                email: email.err().map(String::from),
                consent: (!consent).then(|| {
                    "Please agree, so we may keep your details long enough to deliver the certificate.".into()
                }),
            }),
        }
    }

    /// Issue a certificate for a checked submission from `client`, within its rate limit.
    /// Returns the visitor's token once the visitor is durably stored.
    pub async fn issue(&self, client: IpAddr, v: Valid) -> Result<Token> {
        // A keyed digest, so neither memory nor the database keeps the address.
        let key = self.form_key.tag("issue rate", &client.to_string());
        if !self.issue_limiter.allow(key, crate::clock::now_ts()).await {
            return Err(Error::RateLimited);
        }
        Ok(self.register(v.name, v.email, v.email_lc, v.show_on_wall).await?.1)
    }

    /// Store a visitor durably, queue its ticket when printing is automatic, then ask the
    /// issuer. The page shows pending, failed or issued from the store. An issuer that
    /// signs on the spot is asked first, and the visitor, certificate and ticket are stored
    /// in one commit. Returns the new visitor's id and token.
    pub(super) async fn register(
        &self,
        name: String,
        email: String,
        email_lc: String,
        show_on_wall: bool,
    ) -> Result<(String, Token)> {
        let token = Token::generate();
        let id: String = crate::token::random_hex::<12>();
        let new = NewVisitor {
            id: id.clone(),
            conference: self.settings.conference.slug.clone(),
            name: name.clone(),
            email: email.clone(),
            email_lc,
            issuer_kind: self.issuer.kind().to_string(),
            backend_ref: None,
            retention_until: self.settings.conference.retention_until().unix_timestamp(),
            show_on_wall,
        };
        let req = LeafRequest {
            visitor_id: id,
            name,
            email,
        };
        self.metrics.issuance_submitted(&req.visitor_id);
        let signed = if self.issuer.signs_on_the_spot() {
            match self.issuer.submit(&req).await {
                Ok(Submitted::Issued(cert)) => {
                    self.store_signed(new, &token, cert).await?;
                    return Ok((req.visitor_id, token));
                }
                other => Some(other),
            }
        } else {
            None
        };
        self.store.insert_visitor(new, &token).await?;
        self.events.emit(Event::Visitor {
            id: req.visitor_id.clone(),
        });
        if self.settings.printer.auto_print {
            // Queued now, while the token is at hand; it prints once the certificate exists.
            // The visitor is stored already: a ticket that cannot be queued (a disk just
            // filled up) must not cost them their link; the print button still works.
            let queued = self
                .queue
                .enqueue(&self.store, &req.visitor_id, Origin::Auto, &self.page_url(&token))
                .await;
            if let Err(e) = queued {
                tracing::warn!(visitor = %req.visitor_id, error = %e, "could not queue the automatic ticket");
            }
        }
        let submitted = match signed {
            Some(s) => s,
            None => self.issuer.submit(&req).await,
        };
        match submitted {
            Ok(Submitted::Issued(cert)) => self.record(&req.visitor_id, Outcome::Issued(cert)).await,
            Ok(Submitted::Pending { reference, delayed }) => {
                self.record(&req.visitor_id, Outcome::Reference(reference)).await;
                if let Some(why) = delayed {
                    self.record(&req.visitor_id, Outcome::Delayed(why)).await;
                }
            }
            Err(e) => {
                tracing::warn!(visitor = %req.visitor_id, error = %e, "issuance failed");
                self.record(&req.visitor_id, Outcome::Failed(public_failure(&e))).await;
            }
        }
        Ok((req.visitor_id, token))
    }

    /// Store a visitor signed on the spot, its sealed key and (with automatic printing)
    /// its ticket in one commit; then tell the screens and the print queue.
    async fn store_signed(&self, new: NewVisitor, token: &Token, cert: IssuedCert) -> Result<()> {
        let id = new.id.clone();
        let row = IssuedRow::seal(&token.public_key(), &cert)?;
        let (serial, fingerprint) = (row.serial.clone(), row.fingerprint.clone());
        let ticket = self
            .settings
            .printer
            .auto_print
            .then(|| self.queue.ticket_payload(&self.page_url(token)));
        let printer = &self.settings.printer.print_to;
        let queued = self
            .store
            .insert_issued_visitor(new, token, row, ticket, printer)
            .await?;
        // The one log line per issuance (as in `Backend::complete_issuance`): no name,
        // email, token or key.
        tracing::info!(visitor = %id, serial = %serial, fingerprint = %fingerprint, "issued certificate");
        if let Some(Enqueued::New(job)) = &queued {
            self.queue.told(job, JobState::Queued);
        }
        self.recorded(&id, &Outcome::Issued(cert));
        Ok(())
    }

    /// The one place an issuance result lands, for every backend: store it, then wake the
    /// print queue. A failure to store is logged; the visitor stays pending and the next
    /// start resumes it.
    pub(super) async fn record(&self, visitor_id: &str, outcome: Outcome) {
        match self.store_outcome(visitor_id, outcome.clone()).await {
            Ok(()) => self.recorded(visitor_id, &outcome),
            Err(Error::Storage(e) | Error::DbUnreachable(e)) => {
                // A full or read-only disk (or a database away): keep the outcome in memory and store it once the
                // disk takes writes again, so the visitor's page completes without a restart.
                tracing::warn!(visitor = %visitor_id, error = %e, "cannot record issuance yet (storage); retrying");
                let (app, id) = (self.clone(), visitor_id.to_string());
                tokio::spawn(async move {
                    let mut delay = Duration::from_secs(1);
                    loop {
                        tokio::time::sleep(delay).await;
                        match app.store_outcome(&id, outcome.clone()).await {
                            Ok(()) => return app.recorded(&id, &outcome),
                            Err(Error::Storage(_) | Error::DbUnreachable(_)) => {
                                delay = (delay * 2).min(Duration::from_secs(30))
                            }
                            Err(e) => {
                                tracing::error!(visitor = %id, error = %e, "could not record issuance; will retry at next start");
                                return;
                            }
                        }
                    }
                });
            }
            Err(e) => {
                tracing::error!(visitor = %visitor_id, error = %e, "could not record issuance; will retry at next start");
            }
        }
    }

    async fn store_outcome(&self, visitor_id: &str, outcome: Outcome) -> Result<()> {
        match outcome {
            Outcome::Issued(cert) => self.store.complete_issuance(visitor_id, cert).await,
            Outcome::Failed(why) => self.store.note_issuance_problem(visitor_id, &why, false).await,
            Outcome::Delayed(why) => self.store.note_issuance_problem(visitor_id, &why, true).await,
            Outcome::Reference(name) => self.store.set_backend_ref(visitor_id, &name).await,
        }
    }

    fn recorded(&self, visitor_id: &str, outcome: &Outcome) {
        let finished = match outcome {
            Outcome::Issued(_) => Some("issued"),
            Outcome::Failed(_) => Some("failed"),
            Outcome::Delayed(_) | Outcome::Reference(_) => None,
        };
        if let Some(outcome) = finished {
            self.metrics.issuance_finished(visitor_id, self.issuer.kind(), outcome);
        }
        self.events.emit(Event::Visitor {
            id: visitor_id.to_string(),
        });
        self.queue.wake();
    }

    /// Consume the backends' reports for as long as the kiosk runs.
    pub(super) fn spawn_recorder(&self) {
        let Some(mut reports) = self.reports.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        let app = self.clone();
        tokio::spawn(async move {
            while let Some(r) = reports.recv().await {
                app.record(&r.visitor_id, r.outcome).await;
            }
        });
    }

    /// Hand the issuer every visitor a restart left pending.
    pub(super) async fn resume_pending(&self) -> Result<()> {
        let pending: Vec<PendingIssuance> = self
            .store
            .pending_visitors(self.issuer.kind())
            .await?
            .into_iter()
            .filter_map(|v| {
                Some(PendingIssuance {
                    req: LeafRequest {
                        email: v.email?,
                        visitor_id: v.id,
                        name: v.name,
                    },
                    reference: v.backend_ref,
                })
            })
            .collect();
        self.issuer.resume(pending, &self.outcomes).await;
        Ok(())
    }

    /// Purge everything personal past retention (see the store's purge), delete those
    /// visitors' spool files, and let the backend drop its copies. Logs counts only.
    pub async fn purge_expired(&self) -> Result<usize> {
        let purged = self.store.purge_expired(crate::clock::now_ts()).await?;
        if purged.visitors.is_empty() {
            return Ok(0);
        }
        let spool_files = self.queue.forget(&purged.jobs).await;
        for (id, _) in &purged.visitors {
            // A reissued link waiting for a purged visitor is not shown any more.
            self.store.take_kept_link(id).await?;
        }
        for (id, reference) in &purged.visitors {
            if let Some(r) = reference
                && let Err(e) = self.issuer.forget(r).await
            {
                tracing::warn!(visitor = %id, error = %e, "could not delete backend objects after retention");
            }
        }
        tracing::info!(
            visitors = purged.visitors.len(),
            guestbook_entries = purged.guestbook_entries,
            print_jobs = purged.jobs.len(),
            cancelled_jobs = purged.cancelled_jobs,
            spool_files,
            "purged personal data past retention"
        );
        Ok(purged.visitors.len())
    }

    /// Background upkeep: the retention purge, hourly after the one at start.
    pub(super) fn spawn_upkeep(&self) {
        let app = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                if let Err(e) = app.purge_expired().await {
                    tracing::error!(error = %e, "retention purge failed");
                }
                if let Err(e) = app.prune_access().await {
                    tracing::error!(error = %e, "dropping ended staff sessions failed");
                }
            }
        });
    }
}
