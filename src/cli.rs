//! The non-serving subcommands: `ca ...`, `printer ...`, `staff ...`, and for after the
//! event `archive` (the static site) and `verify`.

use std::path::Path;

use anyhow::{Context, bail};
use certstamp::config::{ArchiveArgs, CommonArgs, K8sManifestArgs, MigrateArgs, PrinterCommand, VerifyArgs};
use certstamp::issuer::cert_manager::manifests;
use certstamp::issuer::local::{self, CaPaths};
use certstamp::passphrase::{self, PassphraseHash};
use certstamp::pki::{self, CertSummary};
use certstamp::store::Store;
use time::OffsetDateTime;

pub fn ca_init(args: &CommonArgs) -> anyhow::Result<()> {
    let (data_dir, conf, _) = args.load()?;
    certstamp::files::private_dir(&data_dir)?;
    let paths = CaPaths::new(&data_dir);
    let root = local::load_or_create_root(&paths)?;
    local::load_or_create_intermediate(&paths, &root, &conf)?;
    println!("CA ready in {}", data_dir.join("ca").display());
    ca_show(args)
}

fn describe(label: &str, pem: &str) -> anyhow::Result<()> {
    let s = CertSummary::parse(pem)?;
    println!("{label}");
    println!("  subject:     {}", s.subject);
    println!("  issuer:      {}", s.issuer);
    println!("  serial:      {}", s.serial);
    println!("  sha256:      {}", s.fingerprint_hex());
    println!("  not before:  {}", s.not_before);
    println!("  not after:   {}", s.not_after);
    Ok(())
}

pub fn ca_show(args: &CommonArgs) -> anyhow::Result<()> {
    let (data_dir, conf, _) = args.load()?;
    let paths = CaPaths::new(&data_dir);
    let Some(root) = local::load_root(&paths)? else {
        bail!(
            "no CA in {}; run `certstamp ca init --data-dir {}` first",
            data_dir.display(),
            data_dir.display()
        );
    };
    describe("root", &root.cert_pem)?;
    let int_path = data_dir
        .join("ca/conferences")
        .join(&conf.slug)
        .join("intermediate.pem");
    match std::fs::read_to_string(&int_path) {
        Ok(pem) => describe(&format!("intermediate ({})", conf.slug), &pem)?,
        Err(_) => println!(
            "intermediate ({}): not created yet; it is created on first use",
            conf.slug
        ),
    }
    Ok(())
}

pub fn ca_export_root(args: &CommonArgs) -> anyhow::Result<()> {
    let (data_dir, _, _) = args.load()?;
    let root = local::load_root(&CaPaths::new(&data_dir))?
        .with_context(|| format!("no CA in {}; run `certstamp ca init` first", data_dir.display()))?;
    print!("{}", root.cert_pem);
    Ok(())
}

/// Print the cluster side of the CA hierarchy, built on this data dir's booth root.
pub fn ca_k8s_manifests(args: &K8sManifestArgs) -> anyhow::Result<()> {
    let (data_dir, conf, _) = args.common.load()?;
    certstamp::config::check_slug(&args.namespace).context("namespace")?;
    let root = local::load_root(&CaPaths::new(&data_dir))?.with_context(|| {
        format!(
            "no booth root in {}; run `certstamp ca init --data-dir {}` first",
            data_dir.display(),
            data_dir.display()
        )
    })?;
    let objects = manifests::bootstrap(&args.namespace, &conf, &root, time::OffsetDateTime::now_utc())?;
    print!("{}", manifests::to_yaml(&objects)?);
    Ok(())
}

pub fn printer(cmd: PrinterCommand) -> anyhow::Result<()> {
    use certstamp_printer::{Driver, Profile};
    let (args, out) = match cmd {
        PrinterCommand::Test(args) => (args, None),
        PrinterCommand::Preview { out, args } => (args, Some(out)),
    };
    let settings = args.settings()?;
    let profile = Profile::by_name(&settings.printer.profile).with_context(|| {
        format!(
            "unknown printer profile {:?}; known: {}",
            settings.printer.profile,
            Profile::names().join(", ")
        )
    })?;
    let ticket = certstamp::ticket::sample(&settings);
    let rendered = certstamp_printer::render(&ticket, &profile)?;
    match out {
        Some(path) => {
            std::fs::write(&path, rendered.preview_png())
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!(
                "wrote {} ({} ESC/POS bytes for {})",
                path.display(),
                rendered.escpos.len(),
                profile.name
            );
        }
        None => {
            let uri: certstamp_printer::PrinterUri = settings.printer.uri.parse()?;
            let driver = Driver::open(&uri);
            println!("printer status: {:?}", driver.status()?);
            driver.send("test-ticket", &rendered)?;
            println!("sent a test ticket to {uri}");
        }
    }
    Ok(())
}

pub async fn archive(args: &ArchiveArgs) -> anyhow::Result<()> {
    let (data_dir, _, file) = args.common.load()?;
    let opts = certstamp::archive::Options {
        database: Some(args.common.database(&data_dir, &file)),
        data_dir,
        out: args.out.clone(),
        before_retention: args.before_retention,
    };
    let s = certstamp::archive::run(&opts, OffsetDateTime::now_utc()).await?;
    if s.unpurged > 0 {
        eprintln!(
            "warning: archived before the retention purge: {} visitor(s) still have their email or key in the \
             database (the site holds neither)",
            s.unpurged
        );
    }
    let b = &s.built;
    println!(
        "archived {} certificate(s) ({} voided) of {} conference CA(s) into {}: {} files, {} KiB",
        b.certificates,
        b.voided,
        b.conferences,
        opts.out.display(),
        b.files.len(),
        s.bytes.div_ceil(1024)
    );
    println!("booth root SHA-256: {}", b.root_fingerprint);
    println!(
        "Serve it at the root of the kiosk's public URL with 404.html as the error page (see README, \"After the event\")."
    );
    Ok(())
}

/// The certificates in a PEM file, or the one in a DER file (the archive publishes both).
fn certs_in(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if let Ok(text) = std::str::from_utf8(&bytes)
        && text.contains("-----BEGIN")
    {
        return pki::pem_certs(text).with_context(|| format!("{} holds no PEM certificate", path.display()));
    }
    CertSummary::from_der(&bytes)
        .map(|_| vec![bytes])
        .with_context(|| format!("{} holds no PEM or DER certificate", path.display()))
}

pub async fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let mut candidates = certs_in(&args.cert)?;
    let leaf = candidates.remove(0);
    if let Some(chain) = &args.chain {
        candidates.extend(certs_in(chain)?);
    }
    let (root_der, store) = match &args.root {
        Some(root) => (certs_in(root)?.remove(0), None),
        None => {
            let (data_dir, _, file) = args.common.load()?;
            let paths = CaPaths::new(&data_dir);
            let root = local::load_root_cert(&paths)?.with_context(|| {
                format!(
                    "no booth root in {}; pass --root ca.pem or the kiosk's --data-dir",
                    data_dir.join("ca").display()
                )
            })?;
            for pem in local::load_intermediate_certs(&paths)? {
                candidates.extend(pki::pem_certs(&pem)?);
            }
            let db = args.common.database(&data_dir, &file);
            let shared = certstamp::store::postgres::is_url(&db);
            let store = if shared || Path::new(&db).is_file() {
                Some(Store::connect(&db).await?)
            } else {
                None
            };
            (pki::pem_certs(&root)?.remove(0), store)
        }
    };
    if let Some(store) = &store {
        for pem in store.issued_intermediates().await? {
            candidates.extend(pki::pem_certs(&pem)?);
        }
    }
    let root_fp = CertSummary::from_der(&root_der)?.fingerprint_hex();
    let v = match certstamp::verify::booth_certificate(&leaf, &candidates, &root_der, OffsetDateTime::now_utc()) {
        Ok(v) => v,
        Err(why) => bail!(
            "{}: NOT VERIFIED: {why}\n(checked against the booth root with SHA-256 {root_fp})",
            args.cert.display()
        ),
    };
    if let Some(store) = &store
        && let Some(visitor) = store.visitor_by_serial(&v.leaf.serial).await?
        && visitor.fingerprint.as_deref() == Some(v.leaf.fingerprint_hex().as_str())
        && let Some(at) = visitor.voided_at
    {
        let day = OffsetDateTime::from_unix_timestamp(at).map(|t| t.date().to_string())?;
        bail!("{}: NOT VERIFIED: booth staff voided it on {day}", args.cert.display());
    }
    let c = &v.conference;
    println!("{}: OK, a certificate of this booth, valid now", args.cert.display());
    println!("  subject:     {}", v.leaf.subject);
    println!(
        "  conference:  {} ({}{}{})",
        c.name,
        c.slug,
        if c.city.is_empty() { "" } else { ", " },
        c.city
    );
    println!("  issued by:   {}", v.intermediate.subject);
    println!("  serial:      {}", v.leaf.serial);
    println!("  sha256:      {}", v.leaf.fingerprint_hex());
    println!("  valid until: {}", certstamp::clock::human_time(v.leaf.not_after));
    println!("  booth root:  {}", v.root_fingerprint);
    Ok(())
}

pub async fn store_migrate(args: &MigrateArgs) -> anyhow::Result<()> {
    let is_file = |s: &str| !certstamp::store::postgres::is_url(s);
    if is_file(&args.from) && !Path::new(&args.from).is_file() {
        bail!("no database at {}", args.from);
    }
    if is_file(&args.to) && Path::new(&args.to).exists() {
        bail!("{} exists; migrate into a new file", args.to);
    }
    let from = Store::connect(&args.from).await?;
    let to = Store::connect(&args.to).await?;
    let d = certstamp::store::dump::copy(&from, &to).await?;
    println!(
        "copied {} visitors, {} print jobs, {} guestbook entries and {} kept reissue links; the copy reads back \
         identical (staff sign in again: sessions are not copied)",
        d.visitors.len(),
        d.jobs.len(),
        d.guestbook.len(),
        d.kept_links.len()
    );
    Ok(())
}
/// The passphrase from standard input: typed twice without echo on a terminal, else the
/// first line of what is piped in (its line ending removed, nothing else).
fn read_passphrase() -> anyhow::Result<zeroize::Zeroizing<String>> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        let first = zeroize::Zeroizing::new(rpassword::prompt_password(format!(
            "Staff passphrase (at least {} characters): ",
            passphrase::MIN_CHARS
        ))?);
        passphrase::check_new(&first)?;
        let again = zeroize::Zeroizing::new(rpassword::prompt_password("Once more: ")?);
        if *first != *again {
            bail!("the two passphrases differ; nothing was changed");
        }
        return Ok(first);
    }
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line)?;
    let trimmed = line.trim_end_matches(['\n', '\r']).to_string();
    Ok(zeroize::Zeroizing::new(trimmed))
}

pub fn staff_set_password(args: &CommonArgs) -> anyhow::Result<()> {
    let (data_dir, _, _) = args.load()?;
    let typed = read_passphrase()?;
    let hash = PassphraseHash::new(&typed).context("passphrase refused; nothing was changed")?;
    let path = passphrase::store(&data_dir, &hash)?;
    println!(
        "Staff passphrase set ({}). It takes effect at the next login; sessions of the old one end.",
        path.display()
    );
    Ok(())
}

pub fn staff_hash_password() -> anyhow::Result<()> {
    let typed = read_passphrase()?;
    let hash = PassphraseHash::new(&typed).context("passphrase refused")?;
    println!("{}", hash.as_str());
    Ok(())
}
