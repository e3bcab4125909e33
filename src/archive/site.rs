//! Everything the archive publishes, built in memory from what the store and the data
//! dir hold. Pure, so tests can read every byte before anything is written.

use askama::Template;
use time::OffsetDateTime;

use super::doc::{self, Contents, State};
use super::pages::{CaView, CertificatePage, ConferenceView, GuestbookPage, IndexPage, Layout, SealView, WallPage};
use crate::clock::{human_time, human_ts};
use crate::error::{Error, Result};
use crate::guestbook::{EntryView, entries_count, render_text};
use crate::pki::{CertSummary, colon_hex, der_to_pem, pem_certs, sha256};
use crate::store::archive::IssuedRow;
use crate::store::guestbook::Entry;
use crate::verify::{self, ConferenceName};

/// Guestbook entries per archived page.
pub const GUESTBOOK_PAGE: usize = 50;
/// Seals on the archived wall, newest first (as many as the live wall shows).
pub const WALL_SEALS: usize = 24;

/// What the archive is built from.
pub struct Input {
    /// The booth root, PEM.
    pub root_pem: String,
    /// Conference intermediates known to the data dir, PEM (issued chains add theirs).
    pub intermediates_pem: Vec<String>,
    /// Every issued certificate.
    pub certificates: Vec<IssuedRow>,
    /// Every guestbook entry, newest first.
    pub entries: Vec<Entry>,
    /// Each conference's final CRL, where the data dir could sign one.
    pub crls: Vec<ArchivedCrl>,
    /// Tickets printed.
    pub printed: u64,
    /// The time of archiving.
    pub now: OffsetDateTime,
}

/// A conference's CRL for the archive.
pub struct ArchivedCrl {
    /// The intermediate that signed it (DER), to find its conference.
    pub issuer_der: Vec<u8>,
    /// How many certificates it lists.
    pub revoked: usize,
    /// The signed list.
    pub crl: crate::revocation::Crl,
}

/// One file of the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Path inside the site, `/`-separated, no leading slash.
    pub path: String,
    /// Contents.
    pub bytes: Vec<u8>,
}

struct Site(Vec<File>);

impl Site {
    fn add(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.0.push(File {
            path: path.into(),
            bytes: bytes.into(),
        });
    }

    fn page(&mut self, path: &str, page: &impl Template) -> Result<()> {
        let html = page.render().map_err(Error::internal)?;
        self.add(path, html);
        Ok(())
    }

    fn cert(&mut self, path: &str, der: &[u8]) {
        self.add(format!("{path}.pem"), der_to_pem(der));
        self.add(format!("{path}.der"), der.to_vec());
    }
}

/// One conference CA found in the data dir or in issued chains.
struct Intermediate {
    der: Vec<u8>,
    name: String,
    view: ConferenceView,
}

fn intermediates(input: &Input, root_der: &[u8]) -> Result<Vec<Intermediate>> {
    let mut ders: Vec<Vec<u8>> = Vec::new();
    let issued = input.certificates.iter().map(|c| &c.intermediates_pem);
    for pem in input.intermediates_pem.iter().chain(issued) {
        for der in pem_certs(pem)? {
            if !ders.contains(&der) && verify::issued_by(&der, root_der) {
                ders.push(der);
            }
        }
    }
    let mut used: Vec<String> = vec!["root".into()];
    let mut out = Vec::new();
    for der in ders {
        let s = CertSummary::from_der(&der)?;
        let conf = ConferenceName::of_intermediate(&der);
        // Slugs name the files; a second intermediate of a slug also gets its fingerprint.
        let slug = conf
            .as_ref()
            .map(|c| c.slug.clone())
            .filter(|s| crate::config::check_slug(s).is_ok())
            .unwrap_or_else(|| "intermediate".into());
        let mut file = slug.clone();
        if used.contains(&file) {
            file = format!("{slug}-{}", hex8(&s.fingerprint));
        }
        used.push(file.clone());
        let title = match &conf {
            Some(c) if !c.city.is_empty() => format!("{}, {} ({})", c.name, c.city, c.slug),
            Some(c) => format!("{} ({})", c.name, c.slug),
            None => s.common_name.clone(),
        };
        out.push(Intermediate {
            name: conf.map(|c| c.name).unwrap_or_default(),
            view: ConferenceView {
                title,
                cert: CaView::new(&s, &format!("ca/{file}")),
                issued: 0,
                crl: None,
            },
            der,
        });
    }
    Ok(out)
}

/// The header names the conferences the archive covers.
fn header(ints: &[Intermediate]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for i in ints {
        let name = i.name.as_str();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    match names.len() {
        1..=3 => names.join(" · "),
        _ => "certstamp booth".into(),
    }
}

fn hex8(fp: &[u8; 32]) -> String {
    crate::token::hex(&fp[..4])
}

fn b64s(ders: &[Vec<u8>]) -> Vec<String> {
    ders.iter().map(|d| doc::b64(d)).collect()
}

/// One issued certificate's document; returns its path and the leaf's fingerprint.
fn document(c: &IssuedRow) -> Result<(String, String, [u8; 32])> {
    let leaf = pem_certs(&c.cert_pem)?.remove(0);
    let mut chain = vec![leaf];
    chain.extend(pem_certs(&c.intermediates_pem)?);
    let fingerprint = sha256(&chain[0]);
    let voided_at = c
        .voided_at
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    let contents = Contents {
        v: 1,
        conference: c.conference.clone(),
        state: if c.voided_at.is_some() {
            State::Voided
        } else {
            State::Valid
        },
        voided_at,
        chain: b64s(&chain),
        root: doc::b64(&pem_certs(&c.root_pem)?.remove(0)),
        seal: certstamp_printer::seal::svg(&fingerprint),
    };
    let (name, json) = doc::seal(&c.token_hash, &contents)?;
    Ok((format!("c/{name}.json"), json, fingerprint))
}

fn guestbook(site: &mut Site, layout: &Layout, entries: &[Entry]) -> Result<()> {
    let total = entries.len() as u64;
    let pages = entries.len().div_ceil(GUESTBOOK_PAGE).max(1);
    // An empty guestbook still gets its (empty) first page.
    let chunks = entries
        .chunks(GUESTBOOK_PAGE)
        .chain(std::iter::once(&[][..]))
        .take(pages);
    for (i, chunk) in chunks.enumerate() {
        let page = i + 1;
        let path = if page == 1 {
            "guestbook/index.html".to_string()
        } else {
            format!("guestbook/{page}/index.html")
        };
        site.page(
            &path,
            &GuestbookPage {
                layout: layout.clone(),
                entries: chunk.iter().map(EntryView::of).collect(),
                page,
                pages,
                total: entries_count(total),
            },
        )?;
    }
    let json = serde_json::json!({ "entries": entries, "page": 1, "pages": 1, "total": entries.len() });
    site.add("guestbook.json", serde_json::to_vec(&json).map_err(Error::internal)?);
    site.add("guestbook.txt", render_text(&layout.conference, entries, 1, 1, total));
    Ok(())
}

/// The files of the site and a tally for the command's summary.
#[derive(Debug, Clone, Default)]
pub struct Built {
    /// Every file.
    pub files: Vec<File>,
    /// Certificate documents.
    pub certificates: usize,
    /// Of which voided.
    pub voided: usize,
    /// Conference CAs.
    pub conferences: usize,
    /// The booth root's SHA-256, colon hex.
    pub root_fingerprint: String,
}

/// Build every file of the site.
pub fn build(input: &Input) -> Result<Built> {
    let mut site = Site(Vec::new());
    let root_der = pem_certs(&input.root_pem)?.remove(0);
    let root = CertSummary::from_der(&root_der)?;
    if !verify::issued_by(&root_der, &root_der) {
        return Err(Error::Pki("the booth root is not a self-signed CA".into()));
    }
    site.cert("ca/root", &root_der);
    let mut ints = intermediates(input, &root_der)?;
    let layout = Layout {
        conference: header(&ints),
        assets: crate::assets::version(),
    };
    let mut seals: Vec<(i64, SealView)> = Vec::new();
    for c in &input.certificates {
        let (path, json, fingerprint) = document(c)?;
        site.add(path, json);
        if c.voided_at.is_some() {
            continue;
        }
        let first = pem_certs(&c.intermediates_pem)?.into_iter().next();
        if let Some(i) = ints.iter_mut().find(|i| Some(&i.der) == first.as_ref()) {
            i.view.issued += 1;
        }
        seals.push((
            c.created_at,
            SealView {
                svg: certstamp_printer::seal::svg(&fingerprint),
                when: human_ts(c.created_at),
            },
        ));
    }
    for i in &mut ints {
        site.cert(&i.view.cert.path, &i.der);
        if let Some(c) = input.crls.iter().find(|c| c.issuer_der == i.der) {
            let path = format!("crl/{}", i.view.cert.file);
            site.add(format!("{path}.crl"), c.crl.der.clone());
            site.add(format!("{path}.pem"), c.crl.pem.clone());
            i.view.crl = Some((path, c.revoked));
        }
    }
    let conferences: Vec<ConferenceView> = ints.into_iter().map(|i| i.view).collect();
    let conference_count = conferences.len();
    let root_view = CaView::new(&root, "ca/root");
    site.page(
        "index.html",
        &IndexPage {
            layout: layout.clone(),
            archived_on: human_time(input.now),
            root: root_view,
            conferences: conferences.clone(),
            entries: entries_count(input.entries.len() as u64),
        },
    )?;
    site.page(
        "404.html",
        &CertificatePage {
            layout: layout.clone(),
            root_fingerprint: colon_hex(&root.fingerprint),
        },
    )?;
    for (name, _, bytes) in crate::assets::FILES {
        site.add(format!("assets/{name}"), bytes.to_vec());
    }
    guestbook(&mut site, &layout, &input.entries)?;
    seals.sort_by_key(|(t, _)| std::cmp::Reverse(*t));
    site.page(
        "wall/index.html",
        &WallPage {
            layout,
            conferences,
            printed: input.printed,
            seals: seals.into_iter().take(WALL_SEALS).map(|(_, s)| s).collect(),
        },
    )?;
    // GitHub Pages: publish as is, without Jekyll.
    site.add(".nojekyll", Vec::new());
    Ok(Built {
        files: site.0,
        certificates: input.certificates.len(),
        voided: input.certificates.iter().filter(|c| c.voided_at.is_some()).count(),
        conferences: conference_count,
        root_fingerprint: colon_hex(&root.fingerprint),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Conference;
    use crate::issuer::local::LocalIssuer;
    use crate::issuer::{Issuer, LeafRequest};
    use crate::token::Token;

    fn conference(slug: &str, name: &str) -> Conference {
        let today = OffsetDateTime::now_utc().date();
        Conference {
            name: name.into(),
            slug: slug.into(),
            city: "Lyon".into(),
            start: today,
            end: today,
            leaf_validity_days: 30,
            retention_days: 1,
        }
    }

    fn row(ca: &LocalIssuer, token: &Token, email: &str, voided: bool) -> IssuedRow {
        let issued = ca
            .sign(&LeafRequest {
                visitor_id: "v".into(),
                name: "Ada".into(),
                email: email.into(),
            })
            .unwrap();
        IssuedRow {
            token_hash: token.lookup_hash(),
            conference: "kc".into(),
            cert_pem: issued.leaf.cert_pem,
            intermediates_pem: issued.intermediates_pem,
            root_pem: issued.root_pem,
            voided_at: voided.then_some(1_800_000_000),
            created_at: 1_790_000_000,
        }
    }

    fn kc_crl(kc: &LocalIssuer) -> ArchivedCrl {
        use crate::issuer::Issuer;
        let signer = kc.crl_signer("kc").unwrap().unwrap();
        let now = OffsetDateTime::now_utc();
        let revoked = [crate::revocation::Revoked {
            serial: "01:02".into(),
            revoked_at: 1_800_000_000,
        }];
        ArchivedCrl {
            issuer_der: pem_certs(&signer.cert_pem).unwrap().remove(0),
            revoked: 1,
            crl: crate::revocation::build(&signer, &revoked, now, now + time::Duration::days(1), 1).unwrap(),
        }
    }

    #[test]
    fn the_site_holds_documents_only_a_link_opens_and_no_email() {
        let dir = tempfile::tempdir().unwrap();
        let kc = LocalIssuer::open(dir.path(), &conference("kc", "KubeCon")).unwrap();
        let other = LocalIssuer::open(dir.path(), &conference("other", "Other Conf")).unwrap();
        let (t1, t2, t3) = (Token::generate(), Token::generate(), Token::generate());
        let input = Input {
            root_pem: kc.root_pem(),
            intermediates_pem: vec![kc.intermediate_pem()],
            certificates: vec![
                row(&kc, &t1, "ada@example.org", false),
                row(&kc, &t2, "bob@example.org", true),
                row(&other, &t3, "eve@example.org", false),
            ],
            entries: Vec::new(),
            crls: vec![kc_crl(&kc)],
            printed: 7,
            now: OffsetDateTime::now_utc(),
        };
        let built = build(&input).unwrap();
        assert_eq!((built.certificates, built.voided, built.conferences), (3, 1, 2));
        // kc's CRL at the kiosk's own addresses; "other" has none (no key, say).
        let has = |p: &str| built.files.iter().any(|f| f.path == p);
        assert!(has("crl/kc.crl") && has("crl/kc.pem") && !has("crl/other.crl"));
        let file = |p: &str| built.files.iter().find(|f| f.path == p).map(|f| f.bytes.clone());
        for p in [
            "ca/root.pem",
            "ca/root.der",
            "ca/kc.pem",
            "ca/other.der",
            "404.html",
            "wall/index.html",
        ] {
            assert!(file(p).is_some(), "{p}");
        }
        for (name, _, bytes) in crate::assets::FILES {
            assert_eq!(file(&format!("assets/{name}")).as_deref(), Some(*bytes));
        }
        let json = file(&format!("c/{}.json", doc::name(&t2.lookup_hash()))).unwrap();
        assert!(json.len() < 20 * 1024, "a small document: {} bytes", json.len());
        let contents = doc::open(&t2.lookup_hash(), std::str::from_utf8(&json).unwrap()).unwrap();
        assert_eq!(contents.state, State::Voided);
        assert_eq!(contents.voided_at.as_deref(), Some("2027-01-15T08:00:00Z"));
        assert!(doc::open(&t1.lookup_hash(), std::str::from_utf8(&json).unwrap()).is_err());
        for f in &built.files {
            for email in [b"ada@example.org".as_slice(), b"bob@example.org", b"eve@example.org"] {
                assert!(
                    !f.bytes.windows(email.len()).any(|w| w == email),
                    "an email in {}",
                    f.path
                );
            }
        }
        let index = String::from_utf8(file("index.html").unwrap()).unwrap();
        assert!(index.contains(&built.root_fingerprint));
        assert!(index.contains("KubeCon, Lyon (kc)") && index.contains("Other Conf, Lyon (other)"));
        assert!(index.contains("href=\"/crl/kc.crl\"") && index.contains("(1 voided certificate listed)"));
        let page = String::from_utf8(file("404.html").unwrap()).unwrap();
        assert!(page.contains(&format!("data-root-fingerprint=\"{}\"", built.root_fingerprint)));
        assert!(page.contains("<noscript>"));
        // Unchanged data, unchanged files: a refreshed Pages repository only changes what changed.
        let again = build(&input).unwrap();
        let docs = |b: &Built| {
            b.files
                .iter()
                .filter(|f| f.path.starts_with("c/"))
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(docs(&built), docs(&again));
    }

    #[test]
    fn a_root_that_is_not_a_ca_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let kc = LocalIssuer::open(dir.path(), &conference("kc", "KubeCon")).unwrap();
        let leaf = row(&kc, &Token::generate(), "a@b.de", false);
        let input = Input {
            root_pem: leaf.cert_pem.clone(),
            intermediates_pem: Vec::new(),
            certificates: vec![leaf],
            entries: Vec::new(),
            crls: Vec::new(),
            printed: 0,
            now: OffsetDateTime::now_utc(),
        };
        assert!(build(&input).is_err());
    }

    #[test]
    fn the_guestbook_is_paged_as_files() {
        let dir = tempfile::tempdir().unwrap();
        let kc = LocalIssuer::open(dir.path(), &conference("kc", "KubeCon")).unwrap();
        let entry = |i: i64| Entry {
            id: i,
            name: format!("Signer {i}"),
            message: format!("<b>message {i}</b>"),
            star: i % 2 == 0,
            signed_at: 1_790_000_000 + i,
        };
        let mut input = Input {
            root_pem: kc.root_pem(),
            intermediates_pem: vec![kc.intermediate_pem()],
            certificates: Vec::new(),
            entries: (0..120).rev().map(entry).collect(),
            crls: Vec::new(),
            printed: 0,
            now: OffsetDateTime::now_utc(),
        };
        let built = build(&input).unwrap();
        let page = |p: &str| {
            let f = built
                .files
                .iter()
                .find(|f| f.path == p)
                .unwrap_or_else(|| panic!("{p}"));
            String::from_utf8(f.bytes.clone()).unwrap()
        };
        let first = page("guestbook/index.html");
        assert!(first.contains("Signer 119") && first.contains("href=\"/guestbook/2/\""));
        assert!(
            first.contains("message 119") && !first.contains("<b>"),
            "entries are escaped"
        );
        let third = page("guestbook/3/index.html");
        assert!(third.contains("Signer 0") && third.contains("href=\"/guestbook/2/\"") && !third.contains("Older"));
        assert!(page("guestbook/2/index.html").contains("href=\"/guestbook/\""));
        assert!(!built.files.iter().any(|f| f.path == "guestbook/4/index.html"));
        assert!(page("guestbook.txt").contains("120 entries") && page("guestbook.json").contains("\"total\":120"));
        input.entries.clear();
        let built = build(&input).unwrap();
        let empty = built.files.iter().find(|f| f.path == "guestbook/index.html").unwrap();
        assert!(String::from_utf8_lossy(&empty.bytes).contains("Nobody signed"));
    }
}
