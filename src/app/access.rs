//! Who may use the staff console and which browser is the booth screen: the staff
//! passphrase (argon2id hash from the environment or the data dir), login with a lockout
//! after repeated failures, sessions, and one-time links that make a browser the
//! booth screen.

use std::net::IpAddr;
use std::path::PathBuf;

use super::App;
use crate::error::{Error, Result};
use crate::limit::RateLimiter;
use crate::passphrase::{self, PassphraseHash};
use crate::session::{ENROLMENT_TTL, Enrolment, Flash, OneTimeCodes, Sessions};

/// Failed passphrase attempts allowed per client address per minute; the next is a 429.
pub const FAILURES_PER_MINUTE: u32 = 5;

/// The staff side's state.
pub struct Access {
    /// From `CERTSTAMP_STAFF_PASSWORD_HASH`; else the data dir's file, read at each use so
    /// `certstamp staff set-password` takes effect without a restart.
    configured: Option<PassphraseHash>,
    data_dir: PathBuf,
    /// Logged-in browsers.
    pub sessions: Sessions,
    enrolments: OneTimeCodes,
    failures: RateLimiter<IpAddr>,
    /// argon2 costs ~20 MB and tens of milliseconds: a few at a time, whoever asks.
    verifying: tokio::sync::Semaphore,
}

impl Access {
    /// Check the configured hash, or the data dir's, at start: an unusable one stops the
    /// kiosk here rather than leaving a console nobody can open.
    pub fn open(configured: Option<&str>, data_dir: PathBuf) -> Result<Self> {
        let configured = configured
            .map(|h| PassphraseHash::parse(h, "CERTSTAMP_STAFF_PASSWORD_HASH"))
            .transpose()?;
        if configured.is_none() && passphrase::load(&data_dir)?.is_none() {
            tracing::warn!(
                "the staff console is closed until a staff passphrase is set: {}",
                passphrase::how_to_set(&data_dir)
            );
        }
        if data_dir.join("staff-password").exists() {
            tracing::warn!(
                "{} is no longer read (staff log in with a passphrase now); delete it",
                data_dir.join("staff-password").display()
            );
        }
        Ok(Access {
            configured,
            data_dir,
            sessions: Sessions::default(),
            enrolments: OneTimeCodes::default(),
            failures: RateLimiter::new(FAILURES_PER_MINUTE),
            verifying: tokio::sync::Semaphore::new(2),
        })
    }

    /// The passphrase hash in force; a closed console when there is none.
    fn hash(&self) -> Result<PassphraseHash> {
        if let Some(h) = &self.configured {
            return Ok(h.clone());
        }
        passphrase::load(&self.data_dir)?.ok_or_else(|| {
            Error::Unavailable(format!(
                "the staff console is closed because no staff passphrase is set; {}",
                passphrase::how_to_set(&self.data_dir)
            ))
        })
    }

    /// Check a passphrase typed by `client`, within the failure limit.
    async fn check(&self, client: IpAddr, typed: String) -> Result<PassphraseHash> {
        let hash = self.hash()?;
        if self.failures.exhausted(&client) {
            return Err(Error::RateLimited);
        }
        let _permit = self.verifying.acquire().await.map_err(Error::internal)?;
        let h = hash.clone();
        let ok = tokio::task::spawn_blocking(move || h.verify(&typed))
            .await
            .map_err(Error::internal)?;
        if ok {
            Ok(hash)
        } else {
            self.failures.allow(&client);
            tracing::warn!("wrong staff passphrase");
            Err(Error::Unauthorized)
        }
    }
}

impl App {
    /// Whether the console can be opened at all (a passphrase is set and readable).
    pub fn staff_console_open(&self) -> Result<()> {
        self.access.hash().map(|_| ())
    }

    /// Log in: a new session's cookie value. Wrong passphrase: [`Error::Unauthorized`];
    /// the sixth failure within a minute from one address: [`Error::RateLimited`].
    pub async fn staff_login(&self, client: IpAddr, passphrase: String) -> Result<String> {
        let hash = self.access.check(client, passphrase).await?;
        tracing::info!("staff logged in");
        Ok(self.access.sessions.create(hash.generation()))
    }

    /// Whether `session` is a live staff session for the passphrase in force.
    pub fn staff_session(&self, session: &str) -> Result<bool> {
        let hash = self.access.hash()?;
        Ok(self.access.sessions.touch(session, hash.generation()))
    }

    /// End a staff session.
    pub fn staff_logout(&self, session: &str) {
        self.access.sessions.end(session);
    }

    /// Leave a message for the session's next page.
    pub fn flash(&self, session: &str, ok: bool, text: impl Into<String>) {
        self.access.sessions.flash(session, Flash { ok, text: text.into() });
    }

    /// The message left for this page, once.
    pub fn take_flash(&self, session: &str) -> Option<Flash> {
        self.access.sessions.take_flash(session)
    }

    /// A one-time link that makes a browser the booth screen, shown to this session
    /// until it expires or is used.
    pub fn create_enrolment(&self, session: &str) -> Enrolment {
        let e = self.access.enrolments.create(ENROLMENT_TTL);
        self.access.sessions.set_enrolment(session, e.clone());
        tracing::info!("staff created a booth screen enrolment link");
        e
    }

    /// This session's enrolment link while it still works.
    pub fn enrolment(&self, session: &str) -> Option<Enrolment> {
        let e = self.access.sessions.enrolment(session)?;
        if self.access.enrolments.pending(&e.code) {
            Some(e)
        } else {
            self.access.sessions.clear_enrolment(session);
            None
        }
    }

    /// Use an enrolment code: `true` once, within its ten minutes.
    pub fn redeem_enrolment(&self, code: &str) -> bool {
        let ok = self.access.enrolments.redeem(code);
        if ok {
            tracing::info!("a browser became the booth screen");
        }
        ok
    }

    /// Staff switch a booth screen back to a normal browser, with the passphrase.
    pub async fn leave_kiosk(&self, client: IpAddr, passphrase: String) -> Result<()> {
        self.access.check(client, passphrase).await?;
        tracing::info!("a booth screen left kiosk mode");
        Ok(())
    }
}
