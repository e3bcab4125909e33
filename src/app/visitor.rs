//! A visitor's link: the token finds the visitor, and only the token opens the key that
//! goes into the zip.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::App;
use crate::bundle::{self, BundleInput};
use crate::error::{Error, Result};
use crate::store::LinkView;
use crate::store::visitors::Visitor;
use crate::token::Token;

impl App {
    /// The visitor behind a token path segment; anything unknown is [`Error::NotFound`],
    /// a voided certificate's link [`Error::Voided`]. Opening a reissued link drops the
    /// sealed copy staff were showing.
    pub async fn visitor(&self, token: &str) -> Result<(Token, Visitor)> {
        self.link(token).await.map(|(token, view)| (token, view.visitor))
    }

    /// [`App::visitor`] with the visitor's newest print job, read together.
    pub async fn link(&self, token: &str) -> Result<(Token, LinkView)> {
        let token = Token::parse(token).ok_or(Error::NotFound)?;
        let view = self
            .store
            .visitor_by_link(token.lookup_hash())
            .await?
            .ok_or(Error::NotFound)?;
        let v = &view.visitor;
        if v.voided_at.is_some() {
            return Err(Error::Voided);
        }
        if view.kept_link && self.store.take_kept_link(&v.id).await? {
            self.events.emit(crate::events::Event::Visitor { id: v.id.clone() });
        }
        Ok((token, view))
    }

    /// The visitor's private key, opened with their token.
    pub(super) fn open_key(&self, token: &Token, v: &Visitor) -> Result<zeroize::Zeroizing<String>> {
        let sealed = v.sealed_key.as_ref().ok_or(Error::KeyPurged)?;
        let key = token.open(sealed)?;
        let key = String::from_utf8(key.to_vec()).map_err(Error::internal)?;
        Ok(zeroize::Zeroizing::new(key))
    }

    /// `certificate.zip`: cert, chain, root, key, PKCS#12 and README. Built once and
    /// kept briefly in memory (see `derived`); the row is checked on every call first,
    /// so a purged key is never served from the cache.
    pub async fn bundle(&self, token: &Token, v: &Visitor) -> Result<Arc<Zeroizing<Vec<u8>>>> {
        if v.purged_at.is_none()
            && v.sealed_key.is_some()
            && v.cert_pem.is_some()
            && let Some(zip) = self.derived.zip(&v.id)
        {
            return Ok(zip);
        }
        let zip = Arc::new(self.build(token, v, bundle::zip).await?);
        self.derived.keep_zip(&v.id, zip.clone());
        Ok(zip)
    }

    /// `certificate.p12` on its own, for a phone that installs it straight from the page
    /// (rare enough to build each time).
    pub async fn p12(&self, token: &Token, v: &Visitor) -> Result<Zeroizing<Vec<u8>>> {
        self.build(token, v, bundle::pkcs12).await
    }

    async fn build(
        &self,
        token: &Token,
        v: &Visitor,
        make: fn(&BundleInput<'_>) -> Result<Vec<u8>>,
    ) -> Result<Zeroizing<Vec<u8>>> {
        if v.purged_at.is_some() {
            return Err(Error::KeyPurged);
        }
        let (Some(cert), Some(ints), Some(root)) = (&v.cert_pem, &v.intermediates_pem, &v.root_pem) else {
            return Err(Error::NotReady);
        };
        let key = self.open_key(token, v)?;
        let (name, cert, ints, root) = (v.name.clone(), cert.clone(), ints.clone(), root.clone());
        let (password, sign_url) = (token.p12_password(), self.guestbook_sign_url());
        // PKCS#12 key derivation is CPU work: keep it off the async workers, and run no
        // more at once than there are cores (more only adds threads and memory).
        let _core = self.derived.builder().await?;
        let bytes = tokio::task::spawn_blocking(move || {
            make(&BundleInput {
                name: &name,
                cert_pem: &cert,
                intermediates_pem: &ints,
                root_pem: &root,
                key_pem: &key,
                p12_password: &password,
                guestbook_url: &sign_url,
            })
        })
        .await
        .map_err(Error::internal)??;
        Ok(Zeroizing::new(bytes))
    }
}
