//! certstamp's binary: parse the command line, set up logging, dispatch.

use clap::Parser;
use tracing_subscriber::EnvFilter;

use certstamp::config::{CaCommand, Cli, Command, LogFormat, StaffCommand, StoreCommand};

mod cli;

fn main() -> anyhow::Result<()> {
    // One crypto provider for every rustls user in the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Text => logs.init(),
        // The same events and fields as text: nothing personal is ever a field.
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    for var in certstamp::config::unknown_env_vars(std::env::vars().map(|(k, _)| k)) {
        tracing::warn!(%var, "unknown CERTSTAMP_* environment variable; is it a typo?");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        None => runtime.block_on(certstamp::server::serve(cli.serve.settings()?)),
        Some(Command::Serve(args)) => runtime.block_on(certstamp::server::serve(args.settings()?)),
        Some(Command::Ca(CaCommand::Init(args))) => cli::ca_init(&args),
        Some(Command::Ca(CaCommand::Show(args))) => cli::ca_show(&args),
        Some(Command::Ca(CaCommand::ExportRoot(args))) => cli::ca_export_root(&args),
        Some(Command::Ca(CaCommand::K8sManifests(args))) => cli::ca_k8s_manifests(&args),
        Some(Command::Printer(cmd)) => cli::printer(cmd),
        Some(Command::Archive(args)) => runtime.block_on(cli::archive(&args)),
        Some(Command::Verify(args)) => runtime.block_on(cli::verify(&args)),
        Some(Command::PrintAgent(args)) => runtime.block_on(certstamp::server::print_agent(args.settings()?)),
        Some(Command::Store(StoreCommand::Migrate(args))) => runtime.block_on(cli::store_migrate(&args)),
        Some(Command::Staff(StaffCommand::SetPassword(args))) => cli::staff_set_password(&args),
        Some(Command::Staff(StaffCommand::HashPassword)) => cli::staff_hash_password(),
    }
}
