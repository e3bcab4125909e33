//! Who may use the staff console and which browser is the booth screen: the staff
//! passphrase (argon2id hash from the environment or the data dir), login with a lockout
//! after repeated failures, sessions, and one-time links that make a browser the
//! booth screen.

use std::net::IpAddr;
use std::path::PathBuf;

use super::App;
use crate::error::{Error, Result};
use crate::passphrase::{self, PassphraseHash};
use crate::session::{self, ENROLMENT_TTL, Enrolment, FAILURE_WINDOW, Flash};
use crate::store::now_ts;
use crate::token::{self, Token};

/// Failed passphrase attempts allowed per client address per minute; the next is a 429.
pub const FAILURES_PER_MINUTE: u32 = 5;

/// What the store keeps for a session cookie value.
fn session_digest(session: &str) -> Vec<u8> {
    session::digest("staff session", session)
}

/// What the store keeps for an enrolment code.
fn code_digest(code: &str) -> Vec<u8> {
    session::digest("kiosk enrolment", code)
}

/// The staff side's configuration; its state (sessions, codes, failures) is in the store.
pub struct Access {
    /// From `CERTSTAMP_STAFF_PASSWORD_HASH`; else the data dir's file, read at each use so
    /// `certstamp staff set-password` takes effect without a restart.
    configured: Option<PassphraseHash>,
    data_dir: PathBuf,
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
}

impl App {
    /// Check a passphrase typed by `client`, within the failure limit (counted in the
    /// store, so every replica counts the same failures).
    async fn check_passphrase(&self, client: IpAddr, typed: String) -> Result<PassphraseHash> {
        let hash = self.access.hash()?;
        // Checked with the permit held: a flood of parallel guesses waits here and then
        // finds the count its predecessors left.
        let _permit = self.access.verifying.acquire().await.map_err(Error::internal)?;
        let now = now_ts();
        let since = now - FAILURE_WINDOW;
        // Counted under a keyed digest: the database never keeps the address.
        let client = self.form_key.tag("staff login", &client.to_string());
        if self.store.login_failures(client.clone(), since).await? >= FAILURES_PER_MINUTE {
            return Err(Error::RateLimited);
        }
        let h = hash.clone();
        let ok = tokio::task::spawn_blocking(move || h.verify(&typed))
            .await
            .map_err(Error::internal)?;
        if ok {
            Ok(hash)
        } else {
            self.store.count_login_failure(client, now, since).await?;
            tracing::warn!("wrong staff passphrase");
            Err(Error::Unauthorized)
        }
    }

    /// Drop ended sessions, codes, handoffs and failure counts (with their client
    /// addresses) from the store; part of the hourly upkeep.
    pub(super) async fn prune_access(&self) -> Result<()> {
        let now = now_ts();
        self.store
            .prune_access(now, now - session::IDLE, now - FAILURE_WINDOW)
            .await
    }

    /// Whether the console can be opened at all (a passphrase is set and readable).
    pub fn staff_console_open(&self) -> Result<()> {
        self.access.hash().map(|_| ())
    }

    /// Log in: a new session's cookie value. Wrong passphrase: [`Error::Unauthorized`];
    /// the sixth failure within a minute from one address: [`Error::RateLimited`].
    pub async fn staff_login(&self, client: IpAddr, passphrase: String) -> Result<String> {
        let hash = self.check_passphrase(client, passphrase).await?;
        let secret = session::new_secret();
        let now = now_ts();
        self.store
            .create_staff_session(
                session_digest(secret.as_str()),
                hash.generation().to_vec(),
                now,
                now - session::IDLE,
            )
            .await?;
        tracing::info!("staff logged in");
        Ok(secret.as_str().to_string())
    }

    /// Whether `session` is a live staff session for the passphrase in force; counts as
    /// activity. A session of an older passphrase, or past its time, ends here.
    pub async fn staff_session(&self, session: &str) -> Result<bool> {
        let hash = self.access.hash()?;
        let digest = session_digest(session);
        let Some(s) = self.store.staff_session(digest.clone()).await? else {
            return Ok(false);
        };
        let now = now_ts();
        if !session::alive(s.created_at, s.last_seen, now) || s.generation != hash.generation() {
            self.store.end_staff_session(digest).await?;
            return Ok(false);
        }
        if now - s.last_seen >= session::TOUCH_EVERY {
            self.store.touch_staff_session(digest, now).await?;
        }
        Ok(true)
    }

    /// End a staff session.
    pub async fn staff_logout(&self, session: &str) -> Result<()> {
        self.store.end_staff_session(session_digest(session)).await
    }

    /// Leave a message for the session's next page.
    pub async fn flash(&self, session: &str, ok: bool, text: impl Into<String>) -> Result<()> {
        self.store
            .set_staff_flash(session_digest(session), ok, text.into())
            .await
    }

    /// The message left for this page, once.
    pub async fn take_flash(&self, session: &str) -> Result<Option<Flash>> {
        let digest = session_digest(session);
        let Some((ok, text)) = self.store.staff_session(digest.clone()).await?.and_then(|s| s.flash) else {
            return Ok(None);
        };
        self.store.clear_staff_flash(digest).await?;
        Ok(Some(Flash { ok, text }))
    }

    /// A one-time link that makes a browser the booth screen, shown to this session
    /// until it expires or is used. The session keeps the code sealed to its own cookie
    /// value; the store otherwise knows only the code's digest.
    pub async fn create_enrolment(&self, session: &str) -> Result<Enrolment> {
        let owner = Token::parse(session).ok_or(Error::Unauthorized)?;
        let code = session::new_secret();
        let now = now_ts();
        let expires_at = now + ENROLMENT_TTL;
        self.store
            .create_enrolment_code(code_digest(code.as_str()), expires_at, now)
            .await?;
        let sealed = token::seal(&owner.public_key(), code.as_str().as_bytes())?;
        self.store
            .set_staff_enrolment(session_digest(session), Some((sealed, expires_at)))
            .await?;
        tracing::info!("staff created a booth screen enrolment link");
        Ok(Enrolment {
            code: code.as_str().to_string(),
            expires_at,
        })
    }

    /// This session's enrolment link while it still works.
    pub async fn enrolment(&self, session: &str) -> Result<Option<Enrolment>> {
        let digest = session_digest(session);
        let Some((sealed, expires_at)) = self
            .store
            .staff_session(digest.clone())
            .await?
            .and_then(|s| s.enrolment)
        else {
            return Ok(None);
        };
        let code = Token::parse(session)
            .and_then(|t| t.open(&sealed).ok())
            .and_then(|plain| String::from_utf8(plain.to_vec()).ok());
        match code {
            Some(code) if self.store.enrolment_code_pending(code_digest(&code), now_ts()).await? => {
                Ok(Some(Enrolment { code, expires_at }))
            }
            _ => {
                self.store.set_staff_enrolment(digest, None).await?;
                Ok(None)
            }
        }
    }

    /// Use an enrolment code: `true` once, within its ten minutes, on any replica.
    pub async fn redeem_enrolment(&self, code: &str) -> Result<bool> {
        let ok = self.store.redeem_enrolment_code(code_digest(code), now_ts()).await?;
        if ok {
            tracing::info!("a browser became the booth screen");
        }
        Ok(ok)
    }

    /// Staff switch a booth screen back to a normal browser, with the passphrase.
    pub async fn leave_kiosk(&self, client: IpAddr, passphrase: String) -> Result<()> {
        self.check_passphrase(client, passphrase).await?;
        tracing::info!("a booth screen left kiosk mode");
        Ok(())
    }
}
