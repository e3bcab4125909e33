//! What the staff console reads and changes: a page of visitors (search, filters,
//! counts), voiding and forgetting one visitor in a single transaction, the links shown
//! again after a reissue (sealed, until the visitor opens them), and the serials a
//! conference's CRL lists.

use rusqlite::{Connection, Transaction, params, params_from_iter};

use super::jobs::{self, Job};
use super::visitors::{self, Visitor};
use super::{Store, now_ts};
use crate::error::Result;
use crate::revocation::Revoked;

/// Which visitors the console lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    /// Everyone.
    #[default]
    All,
    /// Waiting for the issuer.
    Pending,
    /// The issuer refused.
    Failed,
    /// Voided by staff (forgotten ones too).
    Voided,
    /// With a ticket queued, printing, failing or interrupted.
    WaitingToPrint,
}

/// Every filter, in the console's order.
pub const FILTERS: [Filter; 5] = [
    Filter::All,
    Filter::Pending,
    Filter::Failed,
    Filter::Voided,
    Filter::WaitingToPrint,
];

const OPEN_JOB: &str = "EXISTS (SELECT 1 FROM print_jobs j WHERE j.visitor_id = visitors.id \
                        AND j.state IN ('queued', 'printing', 'failed', 'interrupted'))";

impl Filter {
    /// The filter named in a console URL; anything else is everyone.
    pub fn parse(s: &str) -> Self {
        FILTERS.into_iter().find(|f| f.as_str() == s).unwrap_or_default()
    }

    /// Its name in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::Pending => "pending",
            Filter::Failed => "failed",
            Filter::Voided => "voided",
            Filter::WaitingToPrint => "printing",
        }
    }

    /// Its label on the console.
    pub fn label(self) -> &'static str {
        match self {
            Filter::All => "All",
            Filter::Pending => "Pending",
            Filter::Failed => "Failed",
            Filter::Voided => "Voided",
            Filter::WaitingToPrint => "Waiting to print",
        }
    }

    fn sql(self) -> String {
        match self {
            Filter::All => "1".into(),
            Filter::Pending => "state = 'pending' AND voided_at IS NULL".into(),
            Filter::Failed => "state = 'failed'".into(),
            Filter::Voided => "voided_at IS NOT NULL".into(),
            Filter::WaitingToPrint => OPEN_JOB.into(),
        }
    }
}

/// A page of the console's visitor list.
#[derive(Debug, Clone, Default)]
pub struct VisitorQuery {
    /// Part of a name or email, or the start of a serial (with or without colons).
    pub search: String,
    /// Which visitors.
    pub filter: Filter,
    /// Rows to skip.
    pub offset: u32,
    /// Rows to return.
    pub limit: u32,
}

/// What the console shows for a query.
#[derive(Debug, Clone, Default)]
pub struct VisitorPage {
    /// The rows, newest first.
    pub rows: Vec<Visitor>,
    /// How many visitors match the search under each filter, in [`FILTERS`] order.
    pub counts: [u64; 5],
}

impl VisitorPage {
    /// How many match the search and the chosen filter.
    pub fn total(&self, filter: Filter) -> u64 {
        let i = FILTERS.iter().position(|f| *f == filter).unwrap_or(0);
        self.counts[i]
    }
}

/// `LIKE` pattern text with its wildcards escaped (`\` is the escape).
fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// The search as SQL and its four parameters; no search matches everything.
fn search_sql(search: &str) -> (String, Vec<String>) {
    let q = search.trim();
    if q.is_empty() {
        return ("1".into(), Vec::new());
    }
    let serial: String = q
        .chars()
        .filter(|c| !matches!(c, ':' | ' '))
        .collect::<String>()
        .to_ascii_uppercase();
    (
        "(name LIKE ? ESCAPE '\\' OR email_lc LIKE ? ESCAPE '\\' OR serial LIKE ? ESCAPE '\\' \
         OR REPLACE(serial, ':', '') LIKE ? ESCAPE '\\')"
            .into(),
        vec![
            format!("%{}%", like_escape(q)),
            format!("%{}%", like_escape(&q.to_lowercase())),
            format!("{}%", like_escape(&q.to_ascii_uppercase())),
            format!("{}%", like_escape(&serial)),
        ],
    )
}

fn page(conn: &Connection, q: &VisitorQuery) -> Result<VisitorPage> {
    let (search, args) = search_sql(&q.search);
    let counts_sql = format!(
        "SELECT COUNT(*), {} FROM visitors WHERE {search}",
        FILTERS[1..]
            .iter()
            .map(|f| format!("COALESCE(SUM({}), 0)", f.sql()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let counts = conn.query_row(&counts_sql, params_from_iter(&args), |r| {
        let mut c = [0u64; 5];
        for (i, slot) in c.iter_mut().enumerate() {
            *slot = r.get::<_, i64>(i)? as u64;
        }
        Ok(c)
    })?;
    let rows_sql = format!(
        "SELECT {} FROM visitors WHERE {search} AND {} ORDER BY created_at DESC, rowid DESC LIMIT {} OFFSET {}",
        visitors::COLUMNS,
        q.filter.sql(),
        q.limit,
        q.offset
    );
    let mut stmt = conn.prepare(&rows_sql)?;
    let rows = stmt
        .query_map(params_from_iter(&args), visitors::from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(VisitorPage { rows, counts })
}

/// What voiding or forgetting changed.
#[derive(Debug, Clone)]
pub struct Voided {
    /// The visitor's conference (whose CRL changes).
    pub conference: String,
    /// The backend's object name, for forgetting it there too.
    pub backend_ref: Option<String>,
    /// Open tickets that will not print now.
    pub cancelled: Vec<Job>,
}

/// Cancel the visitor's open tickets (their link is dead) and drop every sealed link.
fn retire_jobs(tx: &Transaction<'_>, id: &str, reason: &str, now: i64) -> Result<Vec<Job>> {
    let mut stmt = tx.prepare(&format!(
        "UPDATE print_jobs SET state = 'cancelled', last_error = ?2, updated_at = ?3 \
         WHERE visitor_id = ?1 AND state IN ('queued', 'failed', 'interrupted') RETURNING {}",
        jobs::COLUMNS
    ))?;
    let cancelled = stmt
        .query_map(params![id, reason, now], jobs::from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.execute(
        "UPDATE print_jobs SET payload = NULL WHERE visitor_id = ?1 AND state != 'printing'",
        [id],
    )?;
    tx.execute("DELETE FROM handoffs WHERE visitor_id = ?1", [id])?;
    Ok(cancelled)
}

fn outcome(tx: &Transaction<'_>, id: &str, cancelled: Vec<Job>) -> Result<Voided> {
    let (conference, backend_ref) = tx.query_row(
        "SELECT conference, backend_ref FROM visitors WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(Voided {
        conference,
        backend_ref,
        cancelled,
    })
}

impl Store {
    /// A page of visitors for the console, with the counts behind each filter.
    pub async fn visitor_page(&self, q: VisitorQuery) -> Result<VisitorPage> {
        self.call(move |conn| page(conn, &q)).await
    }

    /// Void a certificate: its key is deleted, its open tickets cancelled, the guestbook
    /// refuses it, its link is gone and the email may be issued again. `None` when there
    /// is no such visitor or it was voided already.
    pub async fn void(&self, id: &str, reason: &str) -> Result<Option<Voided>> {
        let (id, reason) = (id.to_string(), reason.to_string());
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let now = now_ts();
            let changed = tx.execute(
                "UPDATE visitors SET voided_at = ?2, sealed_key = NULL WHERE id = ?1 AND voided_at IS NULL",
                params![id, now],
            )?;
            if changed == 0 {
                return Ok(None);
            }
            let cancelled = retire_jobs(&tx, &id, &reason, now)?;
            let out = outcome(&tx, &id, cancelled)?;
            tx.commit()?;
            Ok(Some(out))
        })
        .await
    }

    /// Forget a visitor now: email, key and the certificate (it names the email) are
    /// deleted and the certificate is voided; name, serial and fingerprint stay for the
    /// console and the CRL. `None` when there is no such visitor or it was forgotten.
    pub async fn forget(&self, id: &str) -> Result<Option<Voided>> {
        let id = id.to_string();
        let done = self
            .call(move |conn| {
                let tx = conn.transaction()?;
                let now = now_ts();
                let changed = tx.execute(
                    "UPDATE visitors SET email = NULL, email_lc = NULL, sealed_key = NULL, cert_pem = NULL, \
                     purged_at = ?2, voided_at = COALESCE(voided_at, ?2) WHERE id = ?1 AND purged_at IS NULL",
                    params![id, now],
                )?;
                if changed == 0 {
                    return Ok(None);
                }
                let cancelled = retire_jobs(&tx, &id, "The visitor's data was deleted.", now)?;
                let out = outcome(&tx, &id, cancelled)?;
                tx.commit()?;
                Ok(Some(out))
            })
            .await?;
        if done.is_some() {
            self.checkpoint().await?;
        }
        Ok(done)
    }

    /// Keep a reissued link, sealed, for staff to show until the visitor opens it.
    pub async fn put_handoff(&self, visitor_id: &str, sealed_url: Vec<u8>) -> Result<()> {
        let id = visitor_id.to_string();
        self.call(move |conn| {
            conn.execute(
                "INSERT OR REPLACE INTO handoffs (visitor_id, sealed_url, created_at) VALUES (?1, ?2, ?3)",
                params![id, sealed_url, now_ts()],
            )?;
            Ok(())
        })
        .await
    }

    /// Drop the visitor's kept link; `true` when there was one.
    pub async fn take_handoff(&self, visitor_id: &str) -> Result<bool> {
        let id = visitor_id.to_string();
        self.call(move |conn| Ok(conn.execute("DELETE FROM handoffs WHERE visitor_id = ?1", [id])? == 1))
            .await
    }

    /// Kept links, oldest first: (visitor id, name, sealed URL, when).
    pub async fn handoffs(&self) -> Result<Vec<(String, String, Vec<u8>, i64)>> {
        self.call(|conn| {
            let mut stmt = conn.prepare(
                "SELECT h.visitor_id, v.name, h.sealed_url, h.created_at FROM handoffs h \
                 JOIN visitors v ON v.id = h.visitor_id ORDER BY h.created_at, h.rowid",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// Drop kept links of visitors purged at retention.
    pub async fn drop_purged_handoffs(&self) -> Result<usize> {
        self.call(|conn| {
            Ok(conn.execute(
                "DELETE FROM handoffs WHERE visitor_id IN (SELECT id FROM visitors WHERE purged_at IS NOT NULL)",
                [],
            )?)
        })
        .await
    }

    /// The voided certificates of a conference, for its CRL.
    pub async fn revoked(&self, conference: &str) -> Result<Vec<Revoked>> {
        let conference = conference.to_string();
        self.call(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT serial, voided_at FROM visitors WHERE conference = ?1 AND voided_at IS NOT NULL \
                 AND serial IS NOT NULL ORDER BY voided_at, rowid",
            )?;
            let rows = stmt
                .query_map([conference], |r| {
                    Ok(Revoked {
                        serial: r.get(0)?,
                        revoked_at: r.get(1)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    /// Jobs for the console: every one still open or interrupted, then the `done` newest
    /// others; each with its visitor's name.
    pub async fn console_jobs(&self, done: u32) -> Result<Vec<(Job, String)>> {
        self.call(move |conn| {
            let name = "(SELECT name FROM visitors v WHERE v.id = print_jobs.visitor_id)";
            let mut out = Vec::new();
            for (states, limit) in [
                ("'queued', 'printing', 'failed', 'interrupted'", -1),
                ("'printed', 'cancelled'", i64::from(done)),
            ] {
                let sql = format!(
                    "SELECT {}, {name} FROM print_jobs WHERE state IN ({states}) ORDER BY id DESC LIMIT ?1",
                    jobs::COLUMNS
                );
                let mut stmt = conn.prepare(&sql)?;
                let rows = stmt.query_map([limit], |r| {
                    Ok((jobs::from_row(r)?, r.get::<_, Option<String>>(9)?.unwrap_or_default()))
                })?;
                out.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
            }
            Ok(out)
        })
        .await
    }

    /// Staff: try a failed job again now instead of after its backoff.
    pub async fn retry_job(&self, id: i64) -> Result<bool> {
        self.call(move |conn| {
            Ok(conn.execute(
                "UPDATE print_jobs SET next_attempt_at = ?2, updated_at = ?2 WHERE id = ?1 AND state = 'failed'",
                params![id, now_ts()],
            )? == 1)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::jobs::{JobState, Origin};
    use crate::store::visitors::NewVisitor;
    use crate::token::Token;

    async fn add(store: &Store, id: &str, name: &str, email: &str) {
        let v = NewVisitor {
            id: id.into(),
            conference: "c".into(),
            name: name.into(),
            email: email.into(),
            email_lc: email.to_lowercase(),
            issuer_kind: "local".into(),
            backend_ref: None,
            retention_until: now_ts() + 3600,
        };
        store.insert_visitor(v, &Token::generate()).await.unwrap();
    }

    #[tokio::test]
    async fn search_filters_counts_and_pages() {
        let store = Store::in_memory().unwrap();
        for i in 0..30 {
            add(
                &store,
                &format!("v{i:02}"),
                &format!("Visitor {i}"),
                &format!("v{i}@example.org"),
            )
            .await;
        }
        add(&store, "ar", "ليلى", "layla@example.org").await;
        add(&store, "pct", "100% Ada_", "ada@example.org").await;
        store
            .call(|c| {
                c.execute("UPDATE visitors SET serial = '7F:0A:BC' WHERE id = 'v03'", [])?;
                c.execute("UPDATE visitors SET state = 'failed' WHERE id = 'v04'", [])?;
                Ok(())
            })
            .await
            .unwrap();
        store.void("v05", "x").await.unwrap().unwrap();
        store.enqueue_job("v06", Origin::Visitor, vec![1], 0).await.unwrap();
        let q = |search: &str, filter: Filter, offset: u32| VisitorQuery {
            search: search.into(),
            filter,
            offset,
            limit: 25,
        };
        let all = store.visitor_page(q("", Filter::All, 0)).await.unwrap();
        assert_eq!(all.rows.len(), 25);
        assert_eq!(all.rows[0].id, "pct", "newest first");
        assert_eq!(all.counts, [32, 30, 1, 1, 1]);
        let rest = store.visitor_page(q("", Filter::All, 25)).await.unwrap();
        assert_eq!(rest.rows.len(), 7);
        let by = |s: &str| {
            let store = store.clone();
            let s = s.to_string();
            async move {
                let p = store.visitor_page(q(&s, Filter::All, 0)).await.unwrap();
                p.rows.into_iter().map(|v| v.id).collect::<Vec<_>>()
            }
        };
        assert_eq!(by("ليلى").await, ["ar"]);
        assert_eq!(by("LAYLA@").await, ["ar"]);
        assert_eq!(by("7f:0a").await, ["v03"]);
        assert_eq!(by("7f0abc").await, ["v03"]);
        assert_eq!(by("100%").await, ["pct"], "wildcards are literal");
        assert_eq!(by("a_").await, ["pct"]);
        assert_eq!(by("nobody").await, Vec::<String>::new());
        for (filter, id) in [
            (Filter::Failed, "v04"),
            (Filter::Voided, "v05"),
            (Filter::WaitingToPrint, "v06"),
        ] {
            let p = store.visitor_page(q("", filter, 0)).await.unwrap();
            assert_eq!(p.rows.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(), [id]);
            assert_eq!(p.total(filter), 1);
        }
        assert_eq!(Filter::parse("printing"), Filter::WaitingToPrint);
        assert_eq!(Filter::parse("nonsense"), Filter::All);
    }

    #[tokio::test]
    async fn void_and_forget_clear_keys_jobs_and_links() {
        let store = Store::in_memory().unwrap();
        add(&store, "a", "Ada", "ada@example.org").await;
        add(&store, "b", "Bo", "bo@example.org").await;
        store
            .call(|c| {
                c.execute(
                    "UPDATE visitors SET sealed_key = x'01', serial = '01:02' WHERE id IN ('a', 'b')",
                    [],
                )?;
                Ok(())
            })
            .await
            .unwrap();
        store.enqueue_job("a", Origin::Visitor, vec![9], 0).await.unwrap();
        store.put_handoff("a", vec![7]).await.unwrap();
        let v = store.void("a", "The certificate was voided.").await.unwrap().unwrap();
        assert_eq!(v.conference, "c");
        assert_eq!(v.cancelled.len(), 1);
        assert_eq!(v.cancelled[0].state, JobState::Cancelled);
        assert!(store.void("a", "again").await.unwrap().is_none());
        let a = store.visitor_by_id("a").await.unwrap().unwrap();
        assert!(a.sealed_key.is_none() && a.voided_at.is_some() && a.email.is_some());
        assert!(store.job(v.cancelled[0].id).await.unwrap().unwrap().payload.is_none());
        assert!(store.handoffs().await.unwrap().is_empty());
        let revoked = store.revoked("c").await.unwrap();
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0].serial, "01:02");
        assert!(store.forget("b").await.unwrap().is_some());
        assert!(store.forget("b").await.unwrap().is_none());
        let b = store.visitor_by_id("b").await.unwrap().unwrap();
        assert!(b.email.is_none() && b.sealed_key.is_none() && b.cert_pem.is_none());
        assert!(b.voided_at.is_some() && b.purged_at.is_some());
        assert_eq!(store.revoked("c").await.unwrap().len(), 2);
        // The email is free again after either.
        add(&store, "a2", "Ada", "ada@example.org").await;
        add(&store, "b2", "Bo", "bo@example.org").await;
    }

    #[tokio::test]
    async fn handoffs_are_kept_until_taken_and_jobs_list_open_ones_first() {
        let store = Store::in_memory().unwrap();
        add(&store, "a", "Ada", "ada@example.org").await;
        store.put_handoff("a", vec![1, 2]).await.unwrap();
        assert_eq!(store.handoffs().await.unwrap()[0].1, "Ada");
        assert!(store.take_handoff("a").await.unwrap());
        assert!(!store.take_handoff("a").await.unwrap());
        for _ in 0..3 {
            store.enqueue_job("a", Origin::Staff, vec![1], 0).await.unwrap();
        }
        store.staff_resolve_job(1, JobState::Cancelled).await.unwrap();
        store.fail_job(2, "paper", now_ts() + 60, true).await.unwrap();
        assert!(store.retry_job(2).await.unwrap());
        assert!(!store.retry_job(3).await.unwrap(), "only failed jobs are retried");
        let jobs = store.console_jobs(1).await.unwrap();
        let ids: Vec<i64> = jobs.iter().map(|(j, _)| j.id).collect();
        assert_eq!(ids, [3, 2, 1]);
        assert_eq!(jobs[0].1, "Ada");
        assert!(store.console_jobs(0).await.unwrap().len() == 2);
    }
}
