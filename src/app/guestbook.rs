//! Signing the guestbook: over mutual TLS with the visitor's own client (a star), or
//! through the kiosk, where the link's token opens the key. Both go through the same
//! certificate checks.

use super::App;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::guestbook::Signer;
use crate::pki::{self, pem_certs};
use crate::store::guestbook::Entry;
use crate::store::visitors::Visitor;
use crate::token::Token;

impl App {
    /// Who a client chain belongs to, after every check the listener applies.
    pub async fn authorize(&self, chain: &[Vec<u8>]) -> Result<Signer> {
        self.guestbook.authorize(&self.store, chain).await
    }

    /// The signer of a mutual-TLS request, checked and within its rate limit; the
    /// listener asks before it reads the request body.
    pub async fn tls_signer(&self, chain: &[Vec<u8>]) -> Result<Signer> {
        let signer = self.authorize(chain).await?;
        self.guestbook.allow(&signer).await?;
        Ok(signer)
    }

    /// Sign as a [`App::tls_signer`]: the visitor's own client did TLS, so it earns a star.
    /// `display_name` is what the entry shows; empty means the signer's first name.
    pub async fn sign_over_tls(&self, signer: &Signer, message: &str, display_name: &str) -> Result<Entry> {
        let entry = self
            .guestbook
            .sign(&self.store, signer, message, display_name, true)
            .await?;
        self.metrics.guestbook_entry(true);
        self.events.emit(Event::Guestbook { id: entry.id });
        Ok(entry)
    }

    /// Sign through the kiosk: the token unlocks the key (proof that this is the
    /// certificate's holder), then the chain goes through the very checks the TLS
    /// listener applies. No star: the visitor's own client did not do TLS.
    pub async fn sign_here(&self, token: &Token, v: &Visitor, message: &str, display_name: &str) -> Result<Entry> {
        let (Some(cert), Some(ints)) = (&v.cert_pem, &v.intermediates_pem) else {
            return Err(Error::NotReady);
        };
        let key = self.open_key(token, v)?;
        if !pki::key_matches_cert(&key, cert)? {
            return Err(Error::Internal("sealed key does not match the certificate".into()));
        }
        let chain: Vec<Vec<u8>> = pem_certs(cert)?.into_iter().chain(pem_certs(ints)?).collect();
        let signer = self.authorize(&chain).await?;
        self.guestbook.allow(&signer).await?;
        let entry = self
            .guestbook
            .sign(&self.store, &signer, message, display_name, false)
            .await?;
        self.metrics.guestbook_entry(false);
        self.events.emit(Event::Guestbook { id: entry.id });
        Ok(entry)
    }
}
