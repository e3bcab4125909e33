//! The print worker: one per printer, jobs strictly in order, durable state before
//! every step. A printer that is offline or out of paper holds the queue and is
//! retried with exponential backoff (1 s doubling to 60 s), never in a hot loop.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use certstamp_printer::{Driver, PrintError, PrinterStatus, PrinterUri, Profile};
use tokio::sync::Notify;

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::events::{Event, Events};
use crate::metrics::{Metrics, Paper};
use crate::pki::CertSummary;
use crate::store::jobs::{Enqueued, Job, JobState, Origin};
use crate::store::{Store, now_ts};
use crate::token::KioskKey;

/// Two taps on "print" within this many seconds make one job.
pub const DEDUPE_SECS: i64 = 600;
/// Longest wait between attempts.
pub const MAX_BACKOFF_SECS: i64 = 60;

/// Seconds to wait after the `attempts`-th failed attempt: 1, 2, 4, ... 60.
pub fn backoff_secs(attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(16);
    (1i64 << exp).min(MAX_BACKOFF_SECS)
}

/// Whether a failed send may have put part of the job on paper: an I/O error or a
/// timeout while writing to a real printer. Refused connections, paper-out and the like
/// happen before the first byte, so those jobs are simply retried.
fn may_have_printed(uri: &PrinterUri, e: &PrintError) -> bool {
    !matches!(uri, PrinterUri::Spool(_))
        && matches!(e, PrintError::Io { .. } | PrintError::Timeout { during: "writing", .. })
}

/// Record what became of a send. Bytes went (or did not) to the printer already, so the
/// record must land: a disk that is full or read-only is retried (1 s doubling to 30 s)
/// until it takes the write, rather than leaving the job in `printing`.
async fn settle<F, Fut>(job: &Job, mut record: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut delay = Duration::from_secs(1);
    loop {
        match record().await {
            Err(Error::Storage(e) | Error::DbUnreachable(e)) => {
                tracing::warn!(job = %job.key(), error = %e, "cannot record the print job's state yet (storage); retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
            done => return done,
        }
    }
}

/// Handle to the queue: enqueue, wake the worker, read the printer's health.
#[derive(Clone)]
pub struct Queue {
    notify: Arc<Notify>,
    key: Arc<KioskKey>,
    profile: Arc<Profile>,
    uri: Arc<PrinterUri>,
    /// The printer's last status and when it last changed (Unix seconds).
    health: Arc<Mutex<(String, i64)>>,
    /// Held by the worker for the length of one attempt, so shutdown can wait for it.
    busy: Arc<tokio::sync::Mutex<()>>,
    /// Job and printer changes, for live screens.
    events: Events,
    /// Attempts and the printer's state, for Prometheus.
    metrics: Metrics,
    /// The printer, shared by the worker and readiness probes.
    driver: Arc<Driver>,
    /// Whether a printer is attached here (`--printer none`: tickets go to an agent).
    local: bool,
    /// The printer this worker serves (`--printer-name`).
    name: Arc<str>,
    /// Where this kiosk's tickets go (`--print-to`).
    print_to: Arc<str>,
}

/// How long a worker's hold on its printer lasts unless renewed. A worker renews it
/// before every job and every idle poll; a killed worker's printer is free after this.
const LEASE_SECS: i64 = 10;
/// With a shared database a job may come from another kiosk; its event wakes this worker,
/// but one sent while the database was away is lost: look again this often when idle.
const SHARED_POLL: Duration = Duration::from_secs(2);

impl Queue {
    /// Parse the printer settings and open the kiosk key; changes are told to `events`
    /// and counted in `metrics`.
    pub fn new(settings: &Settings, events: Events, metrics: Metrics) -> Result<Self> {
        let local = settings.printer.has_local_printer();
        // Without a printer the driver is never used; the spool keeps the types simple.
        let uri_text = if local {
            settings.printer.uri.clone()
        } else {
            format!("spool:{}", settings.data_dir.join("spool").display())
        };
        let uri: PrinterUri = uri_text
            .parse()
            .map_err(|e: PrintError| Error::Invalid(e.to_string()))?;
        let profile = Profile::by_name(&settings.printer.profile).ok_or_else(|| {
            Error::Invalid(format!(
                "unknown printer profile {:?}; known: {}",
                settings.printer.profile,
                Profile::names().join(", ")
            ))
        })?;
        Ok(Queue {
            notify: Arc::new(Notify::new()),
            key: Arc::new(match &settings.printer.queue_key_file {
                Some(shared) => KioskKey::load_shared(shared)?,
                None => KioskKey::load_or_create(&settings.data_dir.join("queue.key"))?,
            }),
            local,
            name: settings.printer.name.as_str().into(),
            print_to: settings.printer.print_to.as_str().into(),
            profile: Arc::new(profile),
            driver: Arc::new(Driver::open(&uri)),
            uri: Arc::new(uri),
            health: Arc::new(Mutex::new(("not checked yet".into(), now_ts()))),
            busy: Arc::default(),
            events,
            metrics,
        })
    }

    /// The printer profile in use.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Queue a ticket whose QR opens `page_url` on this kiosk's printer (`--print-to`),
    /// and wake the worker.
    pub async fn enqueue(&self, store: &Store, visitor_id: &str, origin: Origin, page_url: &str) -> Result<Enqueued> {
        self.enqueue_to(store, visitor_id, origin, page_url, &self.print_to)
            .await
    }

    /// Queue a ticket on the printer named `printer`, and wake the worker.
    pub async fn enqueue_to(
        &self,
        store: &Store,
        visitor_id: &str,
        origin: Origin,
        page_url: &str,
        printer: &str,
    ) -> Result<Enqueued> {
        let payload = self.ticket_payload(page_url);
        let res = store
            .enqueue_job(visitor_id, origin, payload, DEDUPE_SECS, printer)
            .await?;
        if let Enqueued::New(job) = &res {
            self.told(job, JobState::Queued);
        }
        self.wake();
        Ok(res)
    }

    /// What a job stores of its ticket: the page's link, sealed to the kiosk's key.
    pub fn ticket_payload(&self, page_url: &str) -> Vec<u8> {
        self.key.seal(page_url.as_bytes())
    }

    /// A staff reprint of an earlier job's ticket: a new job with the same payload, on
    /// `printer`.
    pub async fn reprint(&self, store: &Store, job: &Job, printer: &str) -> Result<Enqueued> {
        let payload = job.payload.clone().ok_or_else(|| {
            Error::Invalid("This ticket's link was purged after the retention period; it cannot be reprinted.".into())
        })?;
        let res = store
            .enqueue_job(&job.visitor_id, Origin::Staff, payload, 0, printer)
            .await?;
        if let Enqueued::New(job) = &res {
            self.told(job, JobState::Queued);
        }
        self.wake();
        Ok(res)
    }

    /// Nudge the worker (a new job, or an issuance recorded). A wake with nobody waiting
    /// is kept for the next wait, so none is lost.
    pub fn wake(&self) {
        self.notify.notify_one();
    }

    /// Delete what the printer keeps of these jobs (the `spool:` printer's files; other
    /// printers keep nothing). Returns how many files went; failures are logged.
    pub async fn forget(&self, jobs: &[i64]) -> usize {
        let driver = self.driver.clone();
        let keys: Vec<String> = jobs.iter().map(|id| crate::store::jobs::key_of(*id)).collect();
        let removed = tokio::task::spawn_blocking(move || {
            keys.iter()
                .map(|k| match driver.forget(k) {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::error!(job = %k, error = %e, "could not delete a spooled ticket");
                        0
                    }
                })
                .sum()
        })
        .await;
        removed.unwrap_or_default()
    }

    /// The last printer status the worker saw, for staff.
    pub fn health(&self) -> String {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    /// When the printer's status last changed (Unix seconds; start-up before the first check).
    pub fn health_since(&self) -> i64 {
        self.health.lock().unwrap_or_else(|p| p.into_inner()).1
    }

    fn set_health(&self, s: impl Into<String>) {
        let s = s.into();
        let mut h = self.health.lock().unwrap_or_else(|p| p.into_inner());
        if h.0 != s {
            *h = (s.clone(), now_ts());
            drop(h);
            self.events.emit(Event::Printer { status: s });
        }
    }

    /// Seal a page URL with the kiosk's key (what jobs keep, and reissued links staff show).
    pub fn seal_url(&self, url: &str) -> Vec<u8> {
        self.key.seal(url.as_bytes())
    }

    /// Open what [`Queue::seal_url`] sealed.
    pub fn open_url(&self, sealed: &[u8]) -> Result<String> {
        String::from_utf8(self.key.open(sealed)?.to_vec()).map_err(Error::internal)
    }

    /// Print a sample ticket now, between jobs (never in the middle of one), to check
    /// paper and wiring. Not a queued job: nothing to retry or de-duplicate.
    pub async fn print_test(&self, settings: &Settings) -> Result<()> {
        let _busy = self.busy.lock().await;
        let ticket = crate::ticket::sample(settings);
        let profile = self.profile.clone();
        let uri = self.uri.clone();
        let sent = tokio::task::spawn_blocking(move || {
            let rendered = certstamp_printer::render(&ticket, &profile).map_err(|e| e.to_string())?;
            Driver::open(&uri)
                .send(&format!("test-{}", now_ts()), &rendered)
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(Error::internal)?;
        match sent {
            Ok(()) => {
                self.set_health("ready");
                tracing::info!("printed a test ticket");
                Ok(())
            }
            Err(e) => {
                let msg = format!("Printing failed: {e}");
                self.set_health(msg.clone());
                Err(Error::Printer(msg))
            }
        }
    }

    /// Tell live screens that `job` is now in `state`.
    pub fn told(&self, job: &Job, state: JobState) {
        self.events.emit(Event::Job {
            id: job.id,
            visitor: job.visitor_id.clone(),
            state,
        });
    }

    /// Take this printer, mark jobs a crash left in `printing` as interrupted, then run
    /// the worker. Without a printer here (`--printer none`) there is no worker.
    pub async fn start(&self, store: Store, settings: Arc<Settings>) -> Result<()> {
        if !self.local {
            tracing::info!(print_to = %self.print_to, "no printer here; tickets go to a print agent");
            return Ok(());
        }
        // One process per SQLite file: its worker is the printer's only one, also after a
        // crash. With a shared database each worker holds its own lease.
        let holder: String = if store.is_shared() {
            crate::token::random_hex::<8>()
        } else {
            "this-kiosk".into()
        };
        let held = self.take_printer(&store, &holder).await?;
        if store.is_shared() {
            self.wake_on_news();
        }
        let q = self.clone();
        tokio::spawn(async move { q.run(store, settings, holder, held).await });
        Ok(())
    }

    /// On a shared database, tickets queued and certificates recorded by other processes
    /// arrive as events: wake the worker at once rather than at its next poll.
    fn wake_on_news(&self) {
        let (mut heard, q) = (self.events.subscribe(), self.clone());
        tokio::spawn(async move {
            loop {
                match heard.recv().await {
                    Ok(Event::Job {
                        state: JobState::Queued,
                        ..
                    })
                    | Ok(Event::Visitor { .. } | Event::Resync)
                    | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => q.wake(),
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Take or renew the lease on this printer. On taking it over, jobs the last holder
    /// left in `printing` are marked interrupted: they may have printed.
    async fn take_printer(&self, store: &Store, holder: &str) -> Result<bool> {
        if !store.lease_printer(&self.name, holder, now_ts() + LEASE_SECS).await? {
            return Ok(false);
        }
        let n = store.interrupt_in_flight_jobs(&self.name).await?;
        if n > 0 {
            tracing::warn!(
                count = n,
                printer = %self.name,
                "print jobs were in flight at the last stop; marked interrupted for staff"
            );
        }
        Ok(true)
    }

    /// The printer's name (`--printer-name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Ask the printer how it is, unless a ticket is being sent right now (then it
    /// evidently answers). `None` for the spool, which has nobody to ask; otherwise
    /// `Err` says why the printer cannot print (unreachable or offline).
    pub async fn probe(&self) -> Option<std::result::Result<(), String>> {
        if matches!(*self.uri, PrinterUri::Spool(_)) {
            return None;
        }
        let Ok(_busy) = self.busy.try_lock() else {
            return Some(Ok(()));
        };
        let d = self.driver.clone();
        let status = match tokio::task::spawn_blocking(move || d.status()).await {
            Ok(s) => s,
            Err(e) => return Some(Err(format!("the status check failed: {e}"))),
        };
        self.observe(&status);
        Some(match status {
            Ok(PrinterStatus::Offline) => Err("the printer is offline".into()),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("the printer is not reachable: {e}")),
        })
    }

    /// Count what a status check said.
    fn observe(&self, status: &std::result::Result<PrinterStatus, PrintError>) {
        let (up, paper) = match status {
            Ok(PrinterStatus::Ready) => (true, Paper::Present),
            Ok(PrinterStatus::PaperOut) => (true, Paper::Out),
            Ok(PrinterStatus::CoverOpen | PrinterStatus::Unknown) => (true, Paper::Unknown),
            Ok(PrinterStatus::Offline) | Err(_) => (false, Paper::Unknown),
        };
        self.metrics.printer(up, paper);
    }

    /// Wait (bounded) for a ticket being sent to finish, so a stop never cuts a job in half.
    pub async fn drain(&self, limit: Duration) {
        if tokio::time::timeout(limit, self.busy.lock()).await.is_err() {
            tracing::warn!("stopping while a ticket is still being sent; it will show as interrupted");
        }
    }

    async fn run(self, store: Store, settings: Arc<Settings>, holder: String, mut held: bool) {
        let driver = self.driver.clone();
        let shared = store.is_shared();
        let mut reported = String::new();
        match self.probe().await {
            // The spool always takes a job; it has no paper sensor.
            None => self.metrics.printer(true, Paper::Unknown),
            Some(Err(e)) => tracing::warn!(error = %e, "printer check at start"),
            Some(Ok(())) => {}
        }
        // A full or read-only disk: wait longer each time (1 s doubling to 30 s), not a hot loop.
        let mut storage_wait = Duration::from_secs(1);
        loop {
            // Renew the hold (or wait for a dead holder's to run out) before every job.
            let renewed = if held {
                store.lease_printer(&self.name, &holder, now_ts() + LEASE_SECS).await
            } else {
                self.take_printer(&store, &holder).await
            };
            match renewed {
                Ok(true) => held = true,
                Ok(false) => {
                    held = false;
                    self.set_health("another worker holds this printer; waiting");
                    tokio::time::sleep(SHARED_POLL).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "print queue: cannot reach the database; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            // Staff on every kiosk see every printer's status.
            let health = self.health();
            if health != reported && store.report_printer(&self.name, &health).await.is_ok() {
                reported = health;
            }
            let job = match store.next_job(&self.name).await {
                Ok(j) => j,
                Err(e) => {
                    tracing::error!(error = %e, "print queue: cannot read jobs; retrying");
                    tokio::time::sleep(storage_wait).await;
                    storage_wait = (storage_wait * 2).min(Duration::from_secs(30));
                    continue;
                }
            };
            let Some(job) = job else {
                // Idle until told: a new job, or a certificate recorded (every backend's
                // result goes through the app, which wakes the queue). Another kiosk's
                // job cannot tell us, so with a shared database look again soon.
                if shared {
                    let _ = tokio::time::timeout(SHARED_POLL, self.notify.notified()).await;
                } else {
                    self.notify.notified().await;
                }
                continue;
            };
            let wait = job.next_attempt_at - now_ts();
            if wait > 0 {
                // Short naps under a shared database, so the lease stays renewed.
                let nap = if shared { wait.min(2) } else { wait };
                tokio::time::sleep(Duration::from_secs(nap as u64)).await;
                continue;
            }
            let _busy = self.busy.lock().await;
            match self.attempt(&store, &settings, &driver, &job).await {
                Ok(()) => storage_wait = Duration::from_secs(1),
                Err(e) => {
                    tracing::error!(job = %job.key(), error = %e, "print queue: cannot record job state");
                    tokio::time::sleep(storage_wait).await;
                    storage_wait = (storage_wait * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// One attempt at the head job.
    async fn attempt(&self, store: &Store, settings: &Settings, driver: &Arc<Driver>, job: &Job) -> Result<()> {
        let d = driver.clone();
        let status = tokio::task::spawn_blocking(move || d.status())
            .await
            .map_err(Error::internal)?;
        self.observe(&status);
        let problem = match status {
            Ok(PrinterStatus::Ready) | Ok(PrinterStatus::Unknown) => None,
            Ok(PrinterStatus::PaperOut) => Some("The printer is out of paper.".to_string()),
            Ok(PrinterStatus::CoverOpen) => Some("The printer's cover is open.".to_string()),
            Ok(PrinterStatus::Offline) => Some("The printer is offline.".to_string()),
            Err(e) => Some(format!("The printer is not reachable: {e}")),
        };
        if let Some(problem) = problem {
            self.set_health(problem.clone());
            let next = now_ts() + backoff_secs(job.attempts + 1);
            tracing::warn!(job = %job.key(), attempts = job.attempts + 1, %problem, "printer needs attention; holding the queue");
            store.fail_job(job.id, &problem, next, true).await?;
            self.metrics.print_attempt("held");
            self.told(job, JobState::Failed);
            return Ok(());
        }
        let rendered = match self.render(store, settings, job).await {
            Ok(r) => r,
            Err(e) => {
                // Nothing a retry can fix (its link was purged, say): cancel it rather than
                // hold every ticket behind it. Staff see the reason on the job.
                tracing::error!(job = %job.key(), error = %e, "cannot render ticket; cancelling the job");
                let reason = match e {
                    Error::KeyPurged => "Its link was purged after the retention period.".to_string(),
                    _ => "The ticket could not be rendered; see the kiosk log.".to_string(),
                };
                store.cancel_job(job.id, &reason).await?;
                self.told(job, JobState::Cancelled);
                return Ok(());
            }
        };
        if !store.start_job(job.id).await? {
            return Ok(());
        }
        self.told(job, JobState::Printing);
        let d = driver.clone();
        let key = job.key();
        let sent = tokio::task::spawn_blocking(move || d.send(&key, &rendered))
            .await
            .map_err(Error::internal)?;
        match sent {
            Ok(()) => {
                self.set_health("ready");
                tracing::info!(job = %job.key(), "printed ticket");
                settle(job, || store.finish_job(job.id)).await?;
                self.metrics.print_attempt("printed");
                self.told(job, JobState::Printed);
                Ok(())
            }
            Err(e) if may_have_printed(&self.uri, &e) => {
                // Some bytes may be on paper already: a retry could print a second ticket.
                let msg = format!("Printing broke off part-way ({e}); the ticket may be half printed.");
                self.set_health(msg.clone());
                tracing::warn!(job = %job.key(), error = %e, "print job broke off part-way; staff decide");
                settle(job, || store.interrupt_job(job.id, &msg)).await?;
                self.metrics.print_attempt("interrupted");
                self.told(job, JobState::Interrupted);
                Ok(())
            }
            Err(e) => {
                let msg = format!("Printing failed: {e}");
                self.set_health(msg.clone());
                let attempts = job.attempts + 1;
                tracing::warn!(job = %job.key(), attempts, retryable = e.retryable(), error = %e, "print attempt failed");
                let delay = if e.retryable() {
                    backoff_secs(attempts)
                } else {
                    MAX_BACKOFF_SECS
                };
                settle(job, || store.fail_job(job.id, &msg, now_ts() + delay, false)).await?;
                self.metrics.print_attempt("failed");
                self.told(job, JobState::Failed);
                Ok(())
            }
        }
    }

    /// The job's ticket as the printer would print it (also the staff console's preview).
    pub async fn render(&self, store: &Store, settings: &Settings, job: &Job) -> Result<certstamp_printer::Rendered> {
        let v = store.visitor_by_id(&job.visitor_id).await?.ok_or(Error::NotFound)?;
        let cert_pem = v.cert_pem.ok_or(Error::NotReady)?;
        let payload = job.payload.as_ref().ok_or(Error::KeyPurged)?;
        let url = self.open_url(payload)?;
        let summary = CertSummary::parse(&cert_pem)?;
        let ticket = crate::ticket::ticket_for(&settings.conference, &summary, &v.name, &url, &settings.printer.footer);
        let profile = self.profile.clone();
        tokio::task::spawn_blocking(move || certstamp_printer::render(&ticket, &profile))
            .await
            .map_err(Error::internal)?
            .map_err(|e| Error::Printer(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issuer::local::LocalIssuer;
    use crate::issuer::{Issuer, LeafRequest, Submitted};
    use crate::store::jobs::JobState;
    use crate::store::visitors::NewVisitor;
    use clap::Parser;

    #[tokio::test]
    async fn a_ticket_that_cannot_render_is_cancelled_not_retried() {
        let dir = tempfile::tempdir().unwrap();
        let cli =
            crate::config::Cli::try_parse_from(["certstamp", "--data-dir", dir.path().to_str().unwrap()]).unwrap();
        let settings = cli.serve.settings().unwrap();
        let store = Store::in_memory().unwrap();
        let token = crate::token::Token::generate();
        let new = NewVisitor {
            id: "v1".into(),
            conference: "demo".into(),
            name: "Ada".into(),
            email: "ada@example.org".into(),
            email_lc: "ada@example.org".into(),
            issuer_kind: "local".into(),
            backend_ref: None,
            retention_until: now_ts() + 3600,
            show_on_wall: false,
        };
        store.insert_visitor(new, &token).await.unwrap();
        let ca = LocalIssuer::open(dir.path(), &settings.conference).unwrap();
        let req = LeafRequest {
            visitor_id: "v1".into(),
            name: "Ada".into(),
            email: "ada@example.org".into(),
        };
        let Submitted::Issued(cert) = ca.submit(&req).await.unwrap() else {
            panic!()
        };
        store.complete_issuance("v1", cert).await.unwrap();
        // A payload the kiosk key cannot open: nothing a retry could fix.
        store
            .enqueue_job("v1", Origin::Visitor, b"not sealed".to_vec(), DEDUPE_SECS, "default")
            .await
            .unwrap();
        let queue = Queue::new(&settings, Events::new(), Metrics::new()).unwrap();
        let job = store.next_job("default").await.unwrap().unwrap();
        let driver = Arc::new(Driver::open(&PrinterUri::Spool(dir.path().join("spool"))));
        queue.attempt(&store, &settings, &driver, &job).await.unwrap();
        assert_eq!(store.job(job.id).await.unwrap().unwrap().state, JobState::Cancelled);
        assert!(
            store.next_job("default").await.unwrap().is_none(),
            "the queue is not held behind it"
        );
    }

    #[test]
    fn only_a_broken_off_write_to_a_printer_counts_as_maybe_printed() {
        let tcp: PrinterUri = "tcp://127.0.0.1:9100".parse().unwrap();
        let spool: PrinterUri = "spool:/tmp/x".parse().unwrap();
        let reset = || PrintError::Io {
            target: "t".into(),
            source: std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        };
        let timeout = |during| PrintError::Timeout {
            target: "t".into(),
            during,
        };
        assert!(may_have_printed(&tcp, &reset()));
        assert!(may_have_printed(&tcp, &timeout("writing")));
        assert!(!may_have_printed(&tcp, &timeout("connecting")));
        assert!(!may_have_printed(&tcp, &PrintError::PaperOut));
        assert!(!may_have_printed(
            &tcp,
            &PrintError::Offline {
                target: "t".into(),
                reason: "refused".into()
            }
        ));
        assert!(!may_have_printed(&spool, &reset()));
    }

    #[test]
    fn backoff_doubles_to_a_minute() {
        let v: Vec<i64> = (1..=9).map(backoff_secs).collect();
        assert_eq!(v, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
