//! The booth screen's side of a visitor: a handoff page instead of the permanent link.

use std::time::Instant;

use super::App;
use crate::error::{Error, Result};
use crate::store::visitors::Visitor;
use crate::token::Token;

impl App {
    /// Hand a just-issued visitor over on the booth screen (browser `session`): returns
    /// the handoff id for `/k/{id}`, which holds no part of the token.
    pub fn open_handoff(&self, token: Token, session: &str) -> String {
        self.handoffs.open(token, session, Instant::now())
    }

    /// The visitor behind a live handoff of this browser session; anything else is
    /// [`Error::NotFound`].
    pub async fn handoff(&self, id: &str, session: &str) -> Result<(Token, Visitor)> {
        let token = self.handoffs.get(id, session, Instant::now()).ok_or(Error::NotFound)?;
        let v = self.store.visitor_by_token(&token).await?.ok_or(Error::NotFound)?;
        Ok((token, v))
    }

    /// "Done — next visitor": the handoff ends; `false` when it was not live.
    pub fn end_handoff(&self, id: &str, session: &str) -> bool {
        self.handoffs.end(id, session, Instant::now())
    }
}
