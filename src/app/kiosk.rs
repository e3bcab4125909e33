//! The booth screen's side of a visitor: a handoff page instead of the permanent link.
//! Handoffs live in the store, so whichever replica serves the booth screen finds them.

use super::App;
use crate::error::{Error, Result};
use crate::handoff;
use crate::store::now_ts;
use crate::store::visitors::Visitor;
use crate::token::{self, Token, ct_eq};

impl App {
    /// Hand a just-issued visitor over on the booth screen (browser `session`): returns
    /// the handoff id for `/k/{id}`, which holds no part of the token.
    pub async fn open_handoff(&self, token: Token, session: &str) -> Result<String> {
        let id = handoff::new_id();
        let now = now_ts();
        let sealed = token::seal(&handoff::session_key(session).public_key(), token.as_str().as_bytes())?;
        let expires_at = now.saturating_add_unsigned(self.settings.kiosk_handoff_seconds);
        self.store
            .create_handoff(
                handoff::id_digest(&id),
                handoff::session_digest(session),
                sealed,
                expires_at,
                now,
            )
            .await?;
        Ok(id)
    }

    /// The token behind a live handoff of this browser session; anything else is
    /// [`Error::NotFound`].
    async fn handoff_token(&self, id: &str, session: &str) -> Result<Token> {
        let h = self
            .store
            .handoff(handoff::id_digest(id), now_ts())
            .await?
            .ok_or(Error::NotFound)?;
        if !ct_eq(&h.session, &handoff::session_digest(session)) {
            return Err(Error::NotFound);
        }
        let plain = handoff::session_key(session)
            .open(&h.sealed_token)
            .map_err(|_| Error::NotFound)?;
        std::str::from_utf8(&plain)
            .ok()
            .and_then(Token::parse)
            .ok_or(Error::NotFound)
    }

    /// The visitor behind a live handoff of this browser session; anything else is
    /// [`Error::NotFound`].
    pub async fn handoff(&self, id: &str, session: &str) -> Result<(Token, Visitor)> {
        let token = self.handoff_token(id, session).await?;
        let v = self.store.visitor_by_token(&token).await?.ok_or(Error::NotFound)?;
        Ok((token, v))
    }

    /// "Done — next visitor": the handoff ends; `false` when it was not live.
    pub async fn end_handoff(&self, id: &str, session: &str) -> Result<bool> {
        match self.handoff_token(id, session).await {
            Ok(_) => self.store.end_handoff(handoff::id_digest(id)).await,
            Err(Error::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
