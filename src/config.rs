//! Configuration: flags beat `CERTSTAMP_*` environment variables beat the TOML
//! file beat built-in defaults. Every flag below is `Option` so that "not given
//! on the command line or in the environment" can fall through to the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;
use time::{Date, OffsetDateTime};

use crate::error::{Error, Result};

/// certstamp: a conference-booth kiosk that issues X.509 client certificates and prints stamped tickets.
///
/// With no subcommand it serves the kiosk (same as `certstamp serve`).
#[derive(Debug, Parser)]
#[command(name = "certstamp", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options for serving when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Log format on stderr: `text` for people, `json` (one object per line) for log collectors.
    /// Flag or environment only: logging starts before the config file is read.
    #[arg(long, env = "CERTSTAMP_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, target, message and fields).
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the kiosk (web pages, print worker, guestbook listener).
    Serve(ServeArgs),
    /// Manage the local certificate authority in the data dir.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Print a sample ticket, or render one to a PNG.
    #[command(subcommand)]
    Printer(PrinterCommand),
    /// After the event: write the booth's public side as a static site that keeps every QR code working.
    Archive(ArchiveArgs),
    /// Check that a certificate was issued by this booth and is valid now (exit 0 only then).
    Verify(VerifyArgs),
    /// The database itself.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Run only the print worker beside one printer, taking its jobs from the shared
    /// database: `print-agent --printer tcp://HOST:9100 --printer-name front-desk --database postgres://…`.
    PrintAgent(ServeArgs),
    /// The staff console's passphrase.
    #[command(subcommand)]
    Staff(StaffCommand),
}

/// `certstamp staff ...`
#[derive(Debug, Subcommand)]
// Parsed once at start: the size of the common arguments does not matter.
#[allow(clippy::large_enum_variant)]
pub enum StaffCommand {
    /// Read a passphrase (12 characters or more) from standard input and store its argon2id
    /// hash in <data-dir>/staff-password-hash (mode 0600). It takes effect at the next login.
    SetPassword(CommonArgs),
    /// Read a passphrase from standard input and print its argon2id hash, for
    /// CERTSTAMP_STAFF_PASSWORD_HASH (e.g. in a Kubernetes Secret).
    HashPassword,
}

/// `certstamp archive`
#[derive(Debug, Args)]
pub struct ArchiveArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Directory for the site: new, empty, or an earlier archive to refresh.
    #[arg(long)]
    pub out: PathBuf,
    /// Archive before the retention purge has removed every email and key (neither goes into the site).
    #[arg(long)]
    pub before_retention: bool,
}

/// `certstamp store …`
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy every visitor, print job and guestbook entry into an empty database (SQLite to
    /// PostgreSQL or back), then read the copy back and compare. Stop the kiosks first.
    Migrate(MigrateArgs),
}

/// `certstamp store migrate`
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Source: a SQLite file path or a postgres:// URL.
    #[arg(long)]
    pub from: String,
    /// Target (empty; its schema is created): a SQLite file path or a postgres:// URL.
    #[arg(long)]
    pub to: String,
}

/// `certstamp verify`
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The certificate, PEM or DER (a chain.pem works too: its first certificate is checked).
    pub cert: PathBuf,
    /// Intermediates, PEM (chain.pem from the zip) [default: those in the certificate file and the data dir].
    #[arg(long)]
    pub chain: Option<PathBuf>,
    /// The booth root to trust, PEM or DER (ca.pem; compare its fingerprint with the archive's) [default: the data dir's].
    #[arg(long, conflicts_with = "data_dir")]
    pub root: Option<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `certstamp ca ...`
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create the booth root and the current conference's intermediate if missing.
    Init(CommonArgs),
    /// Show subjects, serials, SHA-256 fingerprints and validity of the root and current intermediate.
    Show(CommonArgs),
    /// Print the booth root certificate (PEM) to stdout.
    ExportRoot(CommonArgs),
    /// Print Kubernetes YAML that sets up the CA hierarchy for cert-manager from the local root.
    K8sManifests(K8sManifestArgs),
}

/// `certstamp printer ...`
#[derive(Debug, Subcommand)]
pub enum PrinterCommand {
    /// Print a sample ticket on the configured printer.
    Test(ServeArgs),
    /// Render a sample ticket to a PNG without a printer.
    Preview {
        /// Where to write the PNG.
        #[arg(long, default_value = "ticket.png")]
        out: PathBuf,
        #[command(flatten)]
        args: ServeArgs,
    },
}

/// `certstamp ca k8s-manifests`
#[derive(Debug, Args)]
pub struct K8sManifestArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Namespace the kiosk and its Issuers live in.
    #[arg(long, env = "CERTSTAMP_NAMESPACE", default_value = "certstamp")]
    pub namespace: String,
}

/// Options every subcommand takes: where the data lives and which conference it is.
#[derive(Debug, Args, Clone, Default)]
pub struct CommonArgs {
    /// TOML configuration file.
    #[arg(long, env = "CERTSTAMP_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Data directory: CA keys, SQLite database, print spool [default: ./data].
    #[arg(long, env = "CERTSTAMP_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database: a `postgres://user:pw@host/db` URL shared by several kiosks and print
    /// agents (`?sslmode=verify-full&sslrootcert=ca.pem` for TLS), or a SQLite file path
    /// [default: <data-dir>/certstamp.db].
    #[arg(long, env = "CERTSTAMP_DATABASE", hide_env_values = true)]
    pub database: Option<String>,
    /// Conference display name [default: certstamp demo conference].
    #[arg(long, env = "CERTSTAMP_CONFERENCE_NAME")]
    pub conference_name: Option<String>,
    /// Conference slug: one intermediate CA per slug [default: demo].
    #[arg(long, env = "CERTSTAMP_CONFERENCE_SLUG")]
    pub conference_slug: Option<String>,
    /// Conference city, printed on tickets and put in the intermediate's subject [default: Internet].
    #[arg(long, env = "CERTSTAMP_CONFERENCE_CITY")]
    pub conference_city: Option<String>,
    /// First day of the conference, YYYY-MM-DD [default: today].
    #[arg(long, env = "CERTSTAMP_CONFERENCE_START")]
    pub conference_start: Option<String>,
    /// Last day of the conference, YYYY-MM-DD [default: start + 2 days].
    #[arg(long, env = "CERTSTAMP_CONFERENCE_END")]
    pub conference_end: Option<String>,
    /// Lifetime of visitor certificates in days, capped at the intermediate's end [default: 365].
    #[arg(long, env = "CERTSTAMP_LEAF_VALIDITY_DAYS")]
    pub leaf_validity_days: Option<u32>,
    /// Days after the conference ends when visitor keys and emails are purged [default: 30].
    #[arg(long, env = "CERTSTAMP_RETENTION_DAYS")]
    pub retention_days: Option<u32>,
}

/// Which backend signs visitor certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IssuerKind {
    /// The embedded rcgen CA in the data dir.
    Local,
    /// A cert-manager CA Issuer through the Kubernetes API.
    CertManager,
}

/// `certstamp serve` options.
#[derive(Debug, Args, Clone, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address for the kiosk's web pages [default: 127.0.0.1:8080].
    #[arg(long, env = "CERTSTAMP_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Public base URL used in QR codes and links [default: http://<listen>].
    #[arg(long, env = "CERTSTAMP_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Issuing backend [default: local].
    #[arg(long, env = "CERTSTAMP_ISSUER", value_enum)]
    pub issuer: Option<IssuerKind>,
    /// Kubernetes namespace for Certificates and Secrets (cert-manager mode) [default: certstamp].
    #[arg(long, env = "CERTSTAMP_NAMESPACE")]
    pub namespace: Option<String>,
    /// cert-manager issuer that signs visitors [default: the conference slug].
    #[arg(long, env = "CERTSTAMP_ISSUER_NAME")]
    pub issuer_name: Option<String>,
    /// Kind of that issuer: Issuer or ClusterIssuer [default: Issuer].
    #[arg(long, env = "CERTSTAMP_ISSUER_KIND")]
    pub issuer_kind: Option<String>,
    /// Seconds to wait for cert-manager before telling the visitor issuance is delayed [default: 30].
    #[arg(long, env = "CERTSTAMP_ISSUANCE_TIMEOUT")]
    pub issuance_timeout: Option<u64>,
    /// Booth root certificate (PEM) for cert-manager mode, e.g. mounted from the ConfigMap that
    /// `ca k8s-manifests` prints [default: <data-dir>/ca/root.pem].
    #[arg(long, env = "CERTSTAMP_ROOT_CA_FILE")]
    pub root_ca_file: Option<PathBuf>,
    /// Printer: spool:DIR, file:/dev/usb/lp0 or tcp://HOST:9100 [default: spool:<data-dir>/spool].
    #[arg(long, env = "CERTSTAMP_PRINTER")]
    pub printer: Option<String>,
    /// This printer's name: jobs name their printer, and each printer's worker (this
    /// kiosk's, or a `print-agent`'s) takes only its own [default: default].
    #[arg(long, env = "CERTSTAMP_PRINTER_NAME")]
    pub printer_name: Option<String>,
    /// Where this kiosk's tickets go when it has no printer of its own (`--printer none`):
    /// the `--printer-name` of a print agent [default: this kiosk's --printer-name].
    #[arg(long, env = "CERTSTAMP_PRINT_TO")]
    pub print_to: Option<String>,
    /// Key that seals ticket links in the queue, shared by every kiosk and print agent of
    /// one booth (e.g. mounted from one Secret) [default: <data-dir>/queue.key, made if missing].
    #[arg(long, env = "CERTSTAMP_QUEUE_KEY_FILE")]
    pub queue_key_file: Option<PathBuf>,
    /// Key that signs form tokens (CSRF), shared by every kiosk of one booth
    /// [default: <data-dir>/form.key, made if missing].
    #[arg(long, env = "CERTSTAMP_FORM_KEY_FILE")]
    pub form_key_file: Option<PathBuf>,
    /// Printer profile: 80mm or 58mm [default: 80mm].
    #[arg(long, env = "CERTSTAMP_PRINTER_PROFILE")]
    pub printer_profile: Option<String>,
    /// Queue a ticket automatically when a certificate is issued [default: false].
    #[arg(long, env = "CERTSTAMP_AUTO_PRINT")]
    pub auto_print: Option<bool>,
    /// Footer text printed at the bottom of every ticket.
    #[arg(long, env = "CERTSTAMP_TICKET_FOOTER")]
    pub ticket_footer: Option<String>,
    /// Address of the mTLS guestbook listener [default: 127.0.0.1:8443].
    #[arg(long, env = "CERTSTAMP_GUESTBOOK_LISTEN")]
    pub guestbook_listen: Option<SocketAddr>,
    /// Hostname for the guestbook's own server certificate [default: localhost].
    #[arg(long, env = "CERTSTAMP_GUESTBOOK_HOSTNAME")]
    pub guestbook_hostname: Option<String>,
    /// PEM certificate chain for the guestbook listener instead of an issued one.
    #[arg(long, env = "CERTSTAMP_GUESTBOOK_TLS_CERT")]
    pub guestbook_tls_cert: Option<PathBuf>,
    /// PEM private key for --guestbook-tls-cert.
    #[arg(long, env = "CERTSTAMP_GUESTBOOK_TLS_KEY")]
    pub guestbook_tls_key: Option<PathBuf>,
    /// Accept only certificates of the current conference's intermediate in the guestbook [default: false].
    #[arg(long, env = "CERTSTAMP_GUESTBOOK_THIS_CONFERENCE_ONLY")]
    pub guestbook_this_conference_only: Option<bool>,
    /// argon2id hash (PHC string) of the staff passphrase, from `certstamp staff hash-password`
    /// [default: the one `certstamp staff set-password` stored in <data-dir>/staff-password-hash].
    #[arg(long, env = "CERTSTAMP_STAFF_PASSWORD_HASH", hide_env_values = true)]
    pub staff_password_hash: Option<String>,
    /// Certificate requests allowed per client address per minute; phones behind one venue NAT share it [default: 30].
    #[arg(long, env = "CERTSTAMP_ISSUE_RATE_PER_MINUTE")]
    pub issue_rate_per_minute: Option<u32>,
    /// Behind a reverse proxy (e.g. k3s' Traefik): rate-limit by the last address in
    /// X-Forwarded-For, which the proxy appends. Only enable it when a proxy is in front [default: false].
    #[arg(long, env = "CERTSTAMP_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: Option<bool>,
    /// Open connections allowed on both listeners together; capped by the open-file limit [default: 512].
    #[arg(long, env = "CERTSTAMP_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Open connections allowed per client address (not applied to the web listener behind a
    /// trusted proxy, where every connection comes from the proxy) [default: 128].
    #[arg(long, env = "CERTSTAMP_MAX_CONNECTIONS_PER_CLIENT")]
    pub max_connections_per_client: Option<usize>,
    /// Seconds a client has to send a request's headers, counted from the moment the kiosk waits
    /// for them (a new connection, or a kept-alive one after its last answer); also bounds the
    /// TLS handshake [default: 10].
    #[arg(long, env = "CERTSTAMP_HEADER_TIMEOUT")]
    pub header_timeout: Option<u64>,
    /// Seconds a request body may take to arrive in full [default: 20].
    #[arg(long, env = "CERTSTAMP_BODY_TIMEOUT")]
    pub body_timeout: Option<u64>,
    /// Seconds a connection may wait on its socket with no byte moving either way (a stalled
    /// upload, an answer nobody reads) before it is closed [default: 60].
    #[arg(long, env = "CERTSTAMP_IDLE_TIMEOUT")]
    pub idle_timeout: Option<u64>,
    /// Seconds the booth screen shows a visitor's handoff page (QR code to their phone,
    /// print button) before it returns to the form by itself [default: 300].
    #[arg(long, env = "CERTSTAMP_KIOSK_HANDOFF_SECONDS")]
    pub kiosk_handoff_seconds: Option<u64>,
}

/// The `[conference]` table, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conference {
    /// Display name.
    pub name: String,
    /// Slug: lowercase letters, digits and dashes; keys the intermediate CA.
    pub slug: String,
    /// City.
    pub city: String,
    /// First day.
    pub start: Date,
    /// Last day.
    pub end: Date,
    /// Visitor certificate lifetime in days.
    pub leaf_validity_days: u32,
    /// Days after `end` before keys and emails are purged.
    pub retention_days: u32,
}

impl Conference {
    /// When visitor keys and emails are purged.
    pub fn retention_until(&self) -> OffsetDateTime {
        let day = self.end + time::Duration::days(i64::from(self.retention_days) + 1);
        day.midnight().assume_utc()
    }
}

/// Printer settings, resolved.
#[derive(Debug, Clone)]
pub struct PrinterSettings {
    /// Driver URI.
    pub uri: String,
    /// Profile name.
    pub profile: String,
    /// Queue a ticket at issuance.
    pub auto_print: bool,
    /// Ticket footer.
    pub footer: String,
    /// This printer's name (the worker serves its jobs).
    pub name: String,
    /// The printer this kiosk's tickets go to.
    pub print_to: String,
    /// Shared queue key file, if configured.
    pub queue_key_file: Option<PathBuf>,
}

impl PrinterSettings {
    /// `--printer none`: no printer here; tickets go to a print agent.
    pub fn has_local_printer(&self) -> bool {
        self.uri != "none"
    }
}

/// cert-manager settings, resolved.
#[derive(Debug, Clone)]
pub struct CertManagerSettings {
    /// Namespace.
    pub namespace: String,
    /// Issuer name.
    pub issuer_name: String,
    /// Issuer kind.
    pub issuer_kind: String,
    /// Seconds before "delayed".
    pub timeout_secs: u64,
    /// Where the booth root certificate is read from, if not from the data dir.
    pub root_ca_file: Option<PathBuf>,
}

/// Guestbook listener settings, resolved.
#[derive(Debug, Clone)]
pub struct GuestbookSettings {
    /// TLS listen address.
    pub listen: SocketAddr,
    /// Hostname for the issued server certificate.
    pub hostname: String,
    /// Optional provided certificate chain.
    pub tls_cert: Option<PathBuf>,
    /// Optional provided key.
    pub tls_key: Option<PathBuf>,
    /// Only leaves of the current intermediate.
    pub this_conference_only: bool,
}

/// Limits on client connections, for both listeners, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSettings {
    /// Open connections on both listeners together.
    pub max: usize,
    /// Open connections per client address.
    pub max_per_client: usize,
    /// Time to send a request's headers (and to finish a TLS handshake).
    pub header_timeout: Duration,
    /// Time to send a whole request body.
    pub body_timeout: Duration,
    /// Time a connection may wait with no byte moving.
    pub idle_timeout: Duration,
}

/// Everything the kiosk needs, resolved from flags, environment, file and defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Web listen address.
    pub listen: SocketAddr,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database: a PostgreSQL URL or a SQLite file path.
    pub database: String,
    /// Public base URL without a trailing slash.
    pub public_url: String,
    /// The conference.
    pub conference: Conference,
    /// Issuing backend.
    pub issuer: IssuerKind,
    /// cert-manager backend settings.
    pub cert_manager: CertManagerSettings,
    /// Printer.
    pub printer: PrinterSettings,
    /// Guestbook.
    pub guestbook: GuestbookSettings,
    /// Shared form key file, if configured.
    pub form_key_file: Option<PathBuf>,
    /// Hash of the staff passphrase when configured (else the data dir's hash file is used).
    pub staff_password_hash: Option<String>,
    /// Per-client issuance rate limit.
    pub issue_rate_per_minute: u32,
    /// Take the client address from X-Forwarded-For (set by a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Connection limits and timeouts of both listeners.
    pub connections: ConnectionSettings,
    /// How long a handoff page on the booth screen lives, in seconds.
    pub kiosk_handoff_seconds: u64,
}

impl Settings {
    /// A warning for the log and the staff console when phones cannot open the address
    /// the QR codes carry: `--public-url` left at its loopback default, a loopback address
    /// while the kiosk listens on another interface, or an unspecified one (`0.0.0.0`).
    pub fn public_url_warning(&self) -> Option<String> {
        public_url_warning(&self.public_url, self.listen)
    }
}

/// See [`Settings::public_url_warning`]; pure, for tests.
pub fn public_url_warning(public_url: &str, listen: SocketAddr) -> Option<String> {
    let defaulted = public_url == format!("http://{listen}");
    let host = url_host(public_url)?;
    let ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .ok();
    let loopback = host.eq_ignore_ascii_case("localhost") || ip.is_some_and(|ip| ip.is_loopback());
    let unspecified = ip.is_some_and(|ip| ip.is_unspecified());
    let why = if unspecified {
        "an address no phone can open"
    } else if loopback && defaulted {
        "the default, a loopback address that only this machine can open"
    } else if loopback && !listen.ip().is_loopback() {
        "a loopback address, while the kiosk listens on another interface"
    } else {
        return None;
    };
    Some(format!(
        "QR codes and printed tickets point at {public_url}, {why}: phones cannot reach them. \
         Set --public-url (CERTSTAMP_PUBLIC_URL) to an address phones can open, such as \
         http://192.0.2.10:{} or https://booth.example.org.",
        listen.port()
    ))
}

/// The host of an `http(s)://host[:port][/path]` URL (IPv6 keeps its brackets).
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if authority.starts_with('[') {
        return authority.find(']').map(|i| &authority[..=i]);
    }
    Some(authority.split(':').next().unwrap_or(authority))
}

/// The environment variable that once held a plain staff password; refused now.
pub const LEGACY_PASSWORD_VAR: &str = "CERTSTAMP_STAFF_PASSWORD";

/// The TOML file. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    form_key_file: Option<PathBuf>,
    public_url: Option<String>,
    issuer: Option<IssuerKind>,
    staff_password_hash: Option<String>,
    /// No longer read: refused with a pointer to the hash, rather than a bare "unknown key".
    staff_password: Option<toml::Value>,
    issue_rate_per_minute: Option<u32>,
    trust_forwarded_for: Option<bool>,
    kiosk_handoff_seconds: Option<u64>,
    #[serde(default)]
    conference: FileConference,
    #[serde(default)]
    cert_manager: FileCertManager,
    #[serde(default)]
    printer: FilePrinter,
    #[serde(default)]
    guestbook: FileGuestbook,
    #[serde(default)]
    connections: FileConnections,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConnections {
    max: Option<usize>,
    max_per_client: Option<usize>,
    header_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConference {
    name: Option<String>,
    slug: Option<String>,
    city: Option<String>,
    start: Option<String>,
    end: Option<String>,
    leaf_validity_days: Option<u32>,
    retention_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCertManager {
    namespace: Option<String>,
    issuer_name: Option<String>,
    issuer_kind: Option<String>,
    timeout_secs: Option<u64>,
    root_ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePrinter {
    uri: Option<String>,
    name: Option<String>,
    print_to: Option<String>,
    queue_key_file: Option<PathBuf>,
    profile: Option<String>,
    auto_print: Option<bool>,
    footer: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGuestbook {
    listen: Option<SocketAddr>,
    hostname: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    this_conference_only: Option<bool>,
}

/// `CERTSTAMP_*` variables in `vars` that no option reads: most likely typos.
pub fn unknown_env_vars(vars: impl IntoIterator<Item = String>) -> Vec<String> {
    use clap::CommandFactory;
    fn collect(cmd: &clap::Command, known: &mut std::collections::HashSet<String>) {
        for arg in cmd.get_arguments() {
            if let Some(env) = arg.get_env() {
                known.insert(env.to_string_lossy().into_owned());
            }
        }
        for sub in cmd.get_subcommands() {
            collect(sub, known);
        }
    }
    let mut known = std::collections::HashSet::new();
    collect(&Cli::command(), &mut known);
    let mut unknown: Vec<String> = vars
        .into_iter()
        .filter(|v| v.starts_with("CERTSTAMP_") && !known.contains(v))
        .collect();
    unknown.sort();
    unknown
}

fn load_file(path: Option<&Path>) -> Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Invalid(format!("cannot read config file {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| Error::Invalid(format!("invalid config file {}: {e}", path.display())))
}

fn parse_date(what: &str, s: &str) -> Result<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s.trim(), fmt).map_err(|_| Error::Invalid(format!("{what} must be a date like 2026-11-26, got {s:?}")))
}

/// Check a conference slug: it names directories and Kubernetes objects.
pub fn check_slug(slug: &str) -> Result<()> {
    let ok = !slug.is_empty()
        && slug.len() <= 40
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "conference slug {slug:?} must be 1-40 lowercase letters, digits and inner dashes"
        )))
    }
}

impl CommonArgs {
    /// Resolve the data dir and conference with the file and defaults.
    pub fn resolve(&self, file: &FileConfig) -> Result<(PathBuf, Conference)> {
        let c = &file.conference;
        let data_dir = self
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("./data"));
        let start = match self.conference_start.as_ref().or(c.start.as_ref()) {
            Some(s) => parse_date("conference start", s)?,
            None => OffsetDateTime::now_utc().date(),
        };
        let end = match self.conference_end.as_ref().or(c.end.as_ref()) {
            Some(s) => parse_date("conference end", s)?,
            None => start + time::Duration::days(2),
        };
        if end < start {
            return Err(Error::Invalid("conference end is before its start".into()));
        }
        let slug = self
            .conference_slug
            .clone()
            .or(c.slug.clone())
            .unwrap_or_else(|| "demo".into());
        check_slug(&slug)?;
        let leaf_validity_days = self.leaf_validity_days.or(c.leaf_validity_days).unwrap_or(365);
        if leaf_validity_days == 0 || leaf_validity_days > 3650 {
            return Err(Error::Invalid("leaf validity must be 1-3650 days".into()));
        }
        let conference = Conference {
            name: self
                .conference_name
                .clone()
                .or(c.name.clone())
                .unwrap_or_else(|| "certstamp demo conference".into()),
            slug,
            city: self
                .conference_city
                .clone()
                .or(c.city.clone())
                .unwrap_or_else(|| "Internet".into()),
            start,
            end,
            leaf_validity_days,
            retention_days: self.retention_days.or(c.retention_days).unwrap_or(30),
        };
        Ok((data_dir, conference))
    }

    /// Load the file named by `--config` (if any) and resolve.
    /// The database setting: flag or environment, then the file, then SQLite in the data dir.
    pub fn database(&self, data_dir: &Path, file: &FileConfig) -> String {
        self.database
            .clone()
            .or(file.database.clone())
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| data_dir.join("certstamp.db").display().to_string())
    }

    /// Read the TOML file and resolve the data dir and conference.
    pub fn load(&self) -> Result<(PathBuf, Conference, FileConfig)> {
        let file = load_file(self.config.as_deref())?;
        let (d, c) = self.resolve(&file)?;
        Ok((d, c, file))
    }
}

impl ServeArgs {
    /// Resolve everything for serving.
    pub fn settings(&self) -> Result<Settings> {
        let (data_dir, conference, file) = self.common.load()?;
        let listen = self
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        if file.staff_password.is_some() || std::env::var_os(LEGACY_PASSWORD_VAR).is_some() {
            return Err(Error::Invalid(format!(
                "a plain staff password (CERTSTAMP_STAFF_PASSWORD or staff_password in the config file) is no \
                 longer read; {}",
                crate::passphrase::how_to_set(&data_dir)
            )));
        }
        let public_url = self
            .public_url
            .clone()
            .or(file.public_url.clone())
            .unwrap_or_else(|| format!("http://{listen}"));
        let public_url = public_url.trim_end_matches('/').to_string();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(Error::Invalid(format!(
                "public URL must start with http:// or https://, got {public_url:?}"
            )));
        }
        let kiosk_handoff_seconds = self.kiosk_handoff_seconds.or(file.kiosk_handoff_seconds).unwrap_or(300);
        if kiosk_handoff_seconds == 0 {
            return Err(Error::Invalid("kiosk handoff seconds must be at least 1".into()));
        }
        let cm = &file.cert_manager;
        let p = &file.printer;
        let g = &file.guestbook;
        let connections = self.connections(&file.connections)?;
        let printer_uri = self
            .printer
            .clone()
            .or(p.uri.clone())
            .unwrap_or_else(|| format!("spool:{}", data_dir.join("spool").display()));
        Ok(Settings {
            listen,
            public_url,
            issuer: self.issuer.or(file.issuer).unwrap_or(IssuerKind::Local),
            cert_manager: CertManagerSettings {
                namespace: self
                    .namespace
                    .clone()
                    .or(cm.namespace.clone())
                    .unwrap_or_else(|| "certstamp".into()),
                issuer_name: self
                    .issuer_name
                    .clone()
                    .or(cm.issuer_name.clone())
                    .unwrap_or_else(|| conference.slug.clone()),
                issuer_kind: self
                    .issuer_kind
                    .clone()
                    .or(cm.issuer_kind.clone())
                    .unwrap_or_else(|| "Issuer".into()),
                timeout_secs: self.issuance_timeout.or(cm.timeout_secs).unwrap_or(30),
                root_ca_file: self.root_ca_file.clone().or(cm.root_ca_file.clone()),
            },
            printer: PrinterSettings {
                name: self
                    .printer_name
                    .clone()
                    .or(p.name.clone())
                    .unwrap_or_else(|| crate::store::jobs::DEFAULT_PRINTER.into()),
                print_to: self
                    .print_to
                    .clone()
                    .or(p.print_to.clone())
                    .or(self.printer_name.clone())
                    .or(p.name.clone())
                    .unwrap_or_else(|| crate::store::jobs::DEFAULT_PRINTER.into()),
                queue_key_file: self.queue_key_file.clone().or(p.queue_key_file.clone()),
                uri: printer_uri,
                profile: self
                    .printer_profile
                    .clone()
                    .or(p.profile.clone())
                    .unwrap_or_else(|| "80mm".into()),
                auto_print: self.auto_print.or(p.auto_print).unwrap_or(false),
                footer: self
                    .ticket_footer
                    .clone()
                    .or(p.footer.clone())
                    .unwrap_or_else(|| "Keep this ticket private: its code opens your key.".into()),
            },
            guestbook: GuestbookSettings {
                listen: self
                    .guestbook_listen
                    .or(g.listen)
                    .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8443))),
                hostname: self
                    .guestbook_hostname
                    .clone()
                    .or(g.hostname.clone())
                    .unwrap_or_else(|| "localhost".into()),
                tls_cert: self.guestbook_tls_cert.clone().or(g.tls_cert.clone()),
                tls_key: self.guestbook_tls_key.clone().or(g.tls_key.clone()),
                this_conference_only: self
                    .guestbook_this_conference_only
                    .or(g.this_conference_only)
                    .unwrap_or(false),
            },
            staff_password_hash: self.staff_password_hash.clone().or(file.staff_password_hash.clone()),
            issue_rate_per_minute: self.issue_rate_per_minute.or(file.issue_rate_per_minute).unwrap_or(30),
            trust_forwarded_for: self.trust_forwarded_for.or(file.trust_forwarded_for).unwrap_or(false),
            database: self.common.database(&data_dir, &file),
            form_key_file: self.form_key_file.clone().or(file.form_key_file.clone()),
            connections,
            kiosk_handoff_seconds,
            data_dir,
            conference,
        })
    }
}

impl ServeArgs {
    fn connections(&self, f: &FileConnections) -> Result<ConnectionSettings> {
        let secs = |what: &str, v: u64| {
            if (1..=3600).contains(&v) {
                Ok(Duration::from_secs(v))
            } else {
                Err(Error::Invalid(format!("{what} must be 1-3600 seconds, got {v}")))
            }
        };
        let max = self.max_connections.or(f.max).unwrap_or(512);
        let max_per_client = self.max_connections_per_client.or(f.max_per_client).unwrap_or(128);
        if max == 0 || max_per_client == 0 {
            return Err(Error::Invalid("connection limits must be at least 1".into()));
        }
        Ok(ConnectionSettings {
            max,
            max_per_client: max_per_client.min(max),
            header_timeout: secs(
                "header timeout",
                self.header_timeout.or(f.header_timeout_secs).unwrap_or(10),
            )?,
            body_timeout: secs("body timeout", self.body_timeout.or(f.body_timeout_secs).unwrap_or(20))?,
            idle_timeout: secs("idle timeout", self.idle_timeout.or(f.idle_timeout_secs).unwrap_or(60))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beat_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\n[conference]\nslug = \"kc-eu\"\nname = \"KubeCon\"\nstart = \"2026-03-23\"\nend = \"2026-03-26\"\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from([
            "certstamp",
            "--config",
            path.to_str().unwrap(),
            "--conference-slug",
            "kc-na",
        ])
        .unwrap();
        let s = cli.serve.settings().unwrap();
        assert_eq!(s.conference.slug, "kc-na");
        assert_eq!(s.conference.name, "KubeCon");
        assert_eq!(s.listen.port(), 9000);
        assert_eq!(s.public_url, "http://127.0.0.1:9000");
        assert_eq!(s.conference.retention_until().date().to_string(), "2026-04-26");
    }

    #[test]
    fn connection_limits_have_defaults_flags_and_a_table() {
        let s = Cli::try_parse_from(["certstamp"]).unwrap().serve.settings().unwrap();
        assert_eq!(
            s.connections,
            ConnectionSettings {
                max: 512,
                max_per_client: 128,
                header_timeout: Duration::from_secs(10),
                body_timeout: Duration::from_secs(20),
                idle_timeout: Duration::from_secs(60),
            }
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[connections]\nmax = 100\nmax_per_client = 500\nidle_timeout_secs = 5\n",
        )
        .unwrap();
        let cli =
            Cli::try_parse_from(["certstamp", "--config", path.to_str().unwrap(), "--header-timeout", "3"]).unwrap();
        let c = cli.serve.settings().unwrap().connections;
        assert_eq!(
            (c.max, c.max_per_client),
            (100, 100),
            "a client never gets more than everybody"
        );
        assert_eq!(
            (c.header_timeout, c.idle_timeout),
            (Duration::from_secs(3), Duration::from_secs(5))
        );
        let cli = Cli::try_parse_from(["certstamp", "--body-timeout", "0"]).unwrap();
        assert!(cli.serve.settings().unwrap_err().to_string().contains("body timeout"));
        let cli = Cli::try_parse_from(["certstamp", "--max-connections", "0"]).unwrap();
        assert!(cli.serve.settings().is_err());
    }

    #[test]
    fn phones_cannot_reach_loopback_or_unspecified_public_urls() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        // Left at its default on the default listen address.
        let w = public_url_warning("http://127.0.0.1:8080", at("127.0.0.1:8080")).unwrap();
        assert!(w.contains("http://127.0.0.1:8080") && w.contains("--public-url"), "{w}");
        // Listening everywhere: the default URL is 0.0.0.0, a loopback URL is explicit.
        assert!(public_url_warning("http://0.0.0.0:8080", at("0.0.0.0:8080")).is_some());
        assert!(public_url_warning("http://localhost:8080", at("0.0.0.0:8080")).is_some());
        assert!(public_url_warning("http://[::1]:8080/", at("[::]:8080")).is_some());
        assert!(public_url_warning("https://127.0.0.2", at("192.0.2.10:8080")).is_some());
        // Reachable: a LAN address (set, or the default of a LAN listen address), a name,
        // or loopback on purpose while listening on loopback (a laptop demo, the tests).
        assert_eq!(public_url_warning("http://192.0.2.10:8080", at("0.0.0.0:8080")), None);
        assert_eq!(
            public_url_warning("http://192.0.2.10:8080", at("192.0.2.10:8080")),
            None
        );
        assert_eq!(
            public_url_warning("https://booth.example.org", at("0.0.0.0:8080")),
            None
        );
        assert_eq!(public_url_warning("http://localhost:9000", at("127.0.0.1:8080")), None);
        assert_eq!(url_host("https://user@[fe80::1]:8443/x"), Some("[fe80::1]"));
    }

    #[test]
    fn unknown_environment_variables_are_spotted() {
        let vars = ["CERTSTAMP_LISTEN", "CERTSTAMP_LISTNE", "PATH", "CERTSTAMP_NAMESPACE"].map(String::from);
        assert_eq!(unknown_env_vars(vars), ["CERTSTAMP_LISTNE"]);
    }

    #[test]
    fn bad_slug_and_unknown_keys_are_clear_errors() {
        let cli = Cli::try_parse_from(["certstamp", "serve", "--conference-slug", "Bad Slug"]).unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!()
        };
        assert!(args.settings().unwrap_err().to_string().contains("slug"));
        assert!(toml::from_str::<FileConfig>("nope = 1").is_err());
    }
}
