//! The non-serving subcommands: `ca ...` and `printer ...`.

use anyhow::{Context, bail};
use certstamp::config::{CommonArgs, K8sManifestArgs, PrinterCommand};
use certstamp::issuer::cert_manager::manifests;
use certstamp::issuer::local::{self, CaPaths};
use certstamp::pki::CertSummary;

pub fn ca_init(args: &CommonArgs) -> anyhow::Result<()> {
    let (data_dir, conf, _) = args.load()?;
    std::fs::create_dir_all(&data_dir)?;
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
    let mut ticket = certstamp_printer::sample_ticket(&format!("{}/c/sample", settings.public_url));
    ticket.title = settings.conference.name.clone();
    ticket.subtitle = certstamp::ticket::subtitle(&settings.conference);
    ticket.footer = settings.printer.footer.clone();
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
