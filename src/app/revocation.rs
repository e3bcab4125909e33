//! Each conference's CRL, signed by its intermediate: again whenever the store lists
//! other voided certificates than the one at hand (a void here or on another replica
//! sharing the database), and when it has aged (it is valid for an hour only). Kept in
//! memory; the serials come from the store, so nothing is lost at a restart.

use std::collections::HashMap;
use std::sync::Mutex;

use time::OffsetDateTime;

use super::App;
use crate::error::{Error, Result};
use crate::revocation::{self, Crl, Revoked};

/// The CRLs signed so far with the serials each lists, and the number of the last one.
#[derive(Default)]
pub struct Crls {
    signed: Mutex<HashMap<String, (Crl, Vec<Revoked>)>>,
    last_number: Mutex<u64>,
}

impl Crls {
    fn cached(&self, slug: &str) -> Option<(Crl, Vec<Revoked>)> {
        self.signed.lock().unwrap_or_else(|p| p.into_inner()).get(slug).cloned()
    }

    /// A CRL number above every earlier one, also across restarts (milliseconds of the clock).
    fn next_number(&self) -> u64 {
        let now = revocation::clock_number(OffsetDateTime::now_utc());
        let mut last = self.last_number.lock().unwrap_or_else(|p| p.into_inner());
        *last = now.max(*last + 1);
        *last
    }
}

impl App {
    /// The conference's CRL, signed again when the voided certificates changed or the
    /// one at hand has aged.
    pub async fn crl(&self, slug: &str) -> Result<Crl> {
        if let Some((c, listed)) = self.crls.cached(slug)
            && !revocation::is_stale(c.this_update, OffsetDateTime::now_utc())
            && self.store.revoked(slug).await? == listed
        {
            return Ok(c);
        }
        self.sign_crl(slug).await
    }

    async fn sign_crl(&self, slug: &str) -> Result<Crl> {
        let signer = self.issuer.crl_signer(slug)?.ok_or_else(|| match self.issuer.kind() {
            "cert-manager" => Error::Absent(format!(
                "No CRL is served in cert-manager mode: the {slug} intermediate's key stays in the cluster, \
                 so this kiosk cannot sign one. Voided certificates are still refused by the guestbook, and \
                 their links answer 410."
            )),
            _ => Error::NotFound,
        })?;
        let revoked = self.store.revoked(slug).await?;
        let number = self.crls.next_number();
        let listed = revoked.clone();
        let crl = tokio::task::spawn_blocking(move || {
            let now = OffsetDateTime::now_utc();
            revocation::build(&signer, &revoked, now, now + revocation::LIFETIME, number)
        })
        .await
        .map_err(Error::internal)??;
        self.crls
            .signed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(slug.to_string(), (crl.clone(), listed));
        Ok(crl)
    }

    /// After a void: sign the conference's CRL now, so the next fetch lists it.
    pub(super) async fn refresh_crl(&self, slug: &str) {
        match self.sign_crl(slug).await {
            Ok(_) | Err(Error::NotFound | Error::Absent(_)) => {}
            Err(e) => tracing::error!(conference = %slug, error = %e, "could not sign the CRL"),
        }
    }
}
