//! `certstamp print-agent`: the print worker alone, beside one printer, taking that
//! printer's jobs from the shared database. No web pages, no issuer, no CA.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::events::Events;
use crate::metrics::Metrics;
use crate::queue::Queue;
use crate::store::Store;

/// How long a stopping agent lets a ticket being sent finish.
const DRAIN: Duration = Duration::from_secs(10);

/// Serve `settings.printer` until `stop` resolves.
pub async fn run(settings: Settings, stop: impl std::future::Future<Output = ()>) -> Result<()> {
    if !settings.printer.has_local_printer() {
        return Err(Error::Invalid(
            "a print agent needs its printer: --printer tcp://HOST:9100, file:/dev/usb/lp0 or spool:DIR".into(),
        ));
    }
    std::fs::create_dir_all(&settings.data_dir)?;
    let store = Store::connect(&settings.database).await?;
    if !store.is_shared() {
        tracing::warn!(
            "this print agent uses a SQLite file; kiosks elsewhere cannot reach it (use --database postgres://…)"
        );
    }
    // Job and printer changes reach the kiosks' screens through the database.
    let events = Events::new();
    store.share_events(&events);
    let queue = Queue::new(&settings, events, Metrics::new())?;
    let name = queue.name().to_string();
    queue.start(store, Arc::new(settings)).await?;
    // Tests and humans read this line.
    println!("certstamp print agent serving printer {name}");
    tracing::info!(printer = %name, "print agent ready");
    stop.await;
    queue.drain(DRAIN).await;
    Ok(())
}
