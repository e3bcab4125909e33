//! What `certstamp archive` and `certstamp verify` read: issued certificates with the
//! hash that names their archive document, the conference CAs seen in issued chains,
//! and whether the retention purge has run.

/// An issued certificate as the archive publishes it: public parts only.
#[derive(Clone)]
pub struct IssuedRow {
    /// SHA-256 of the visitor's token, as stored (never published).
    pub token_hash: Vec<u8>,
    /// Conference slug.
    pub conference: String,
    /// Leaf PEM.
    pub cert_pem: String,
    /// Intermediates PEM.
    pub intermediates_pem: String,
    /// Root PEM.
    pub root_pem: String,
    /// When staff voided it.
    pub voided_at: Option<i64>,
    /// Submission time.
    pub created_at: i64,
}

impl std::fmt::Debug for IssuedRow {
    // The hash opens the archive document: keep it out of debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedRow")
            .field("conference", &self.conference)
            .field("voided_at", &self.voided_at)
            .finish_non_exhaustive()
    }
}

/// Visitors whose email or key is still kept, and when the last of them is due for purging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unpurged {
    /// How many.
    pub count: u64,
    /// Latest `retention_until` among them, Unix seconds.
    pub until: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issuer::LeafRequest;
    use crate::issuer::local::LocalIssuer;
    use crate::store::Store;
    use crate::store::now_ts;
    use crate::store::visitors::NewVisitor;
    use crate::token::Token;

    #[tokio::test]
    async fn issued_rows_keep_the_hash_and_the_purge_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let today = time::OffsetDateTime::now_utc().date();
        let conf = crate::config::Conference {
            name: "C".into(),
            slug: "c".into(),
            city: "X".into(),
            start: today,
            end: today,
            leaf_validity_days: 1,
            retention_days: 1,
        };
        let ca = LocalIssuer::open(dir.path(), &conf).unwrap();
        let store = Store::in_memory().unwrap();
        let mut tokens = Vec::new();
        for (id, email) in [("a", "a@x.io"), ("b", "b@x.io"), ("pending", "p@x.io")] {
            let t = Token::generate();
            let v = NewVisitor {
                id: id.into(),
                conference: "c".into(),
                name: "N".into(),
                email: email.into(),
                email_lc: email.into(),
                issuer_kind: "local".into(),
                backend_ref: None,
                retention_until: now_ts() + 60,
                show_on_wall: false,
            };
            store.insert_visitor(v, &t).await.unwrap();
            tokens.push(t);
        }
        for id in ["a", "b"] {
            let req = LeafRequest {
                visitor_id: id.into(),
                name: "N".into(),
                email: format!("{id}@x.io"),
            };
            store.complete_issuance(id, ca.sign(&req).unwrap()).await.unwrap();
        }
        store.void("b", "voided").await.unwrap();
        let rows = store.issued_certificates().await.unwrap();
        assert_eq!(rows.len(), 2, "the pending visitor has no certificate");
        assert_eq!(rows[0].token_hash, tokens[0].lookup_hash());
        assert!(rows[0].voided_at.is_none() && rows[1].voided_at.is_some());
        assert!(!format!("{:?}", rows[0]).contains("token_hash"));
        assert_eq!(store.issued_intermediates().await.unwrap().len(), 1);
        let before = store.unpurged().await.unwrap();
        assert_eq!(before.count, 3);
        assert!(before.until.unwrap() > now_ts());
        store.purge_expired(now_ts() + 120).await.unwrap();
        assert_eq!(store.unpurged().await.unwrap(), Unpurged { count: 0, until: None });
        // The certificate names the visitor, so the purge deletes it (issue 13): after the
        // retention date the archive has no document for a purged visitor.
        assert_eq!(store.issued_certificates().await.unwrap().len(), 0);
        assert_eq!(store.issued_intermediates().await.unwrap().len(), 1, "the CA stays");
    }
}
