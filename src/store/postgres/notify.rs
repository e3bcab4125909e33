//! Live events between replicas through LISTEN/NOTIFY: each process sends what it emits
//! on one channel, stamped with its own random id, and one listening connection
//! delivers the other processes' events into the local bus. Payloads are the events'
//! JSON (ids and states, never a name, email or token); the channel carries nothing
//! that is not on the public wall's stream already.
//!
//! A lost listening connection is opened again with a growing pause; what was sent
//! meanwhile is gone, so subscribers are told to reload ([`Event::Resync`]).

use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::Result;
use crate::events::{Event, Events};

/// The one channel every replica and print agent uses.
const CHANNEL: &str = "certstamp_events";
/// Events sent in one statement at most.
const BATCH: usize = 256;
/// How often an idle listening connection is checked (a silent network drop).
const CHECK: Duration = Duration::from_secs(20);
/// The longest pause between attempts to listen again.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// What goes on the channel.
#[derive(Serialize, Deserialize)]
struct Note {
    /// The sending process's id: a process skips its own.
    from: String,
    event: Event,
}

/// Relay `events` both ways until the process ends.
pub(super) fn share(
    pool: deadpool_postgres::Pool,
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    events: &Events,
) {
    let Some(outbox) = events.relay() else {
        return;
    };
    let me: String = crate::token::random_hex::<8>();
    tokio::spawn(send(pool, outbox, me.clone()));
    tokio::spawn(listen(config, tls, events.clone(), me));
}

/// Send what this process emits, a batch per statement. Events that cannot be sent (the
/// database is away) are dropped: the others' listeners lost their connection too and
/// tell their screens to reload when it is back.
async fn send(pool: deadpool_postgres::Pool, mut outbox: UnboundedReceiver<Event>, me: String) {
    let mut batch = Vec::with_capacity(BATCH);
    while outbox.recv_many(&mut batch, BATCH).await > 0 {
        let notes: Vec<String> = batch
            .drain(..)
            .filter(|e| *e != Event::Resync)
            .filter_map(|event| {
                serde_json::to_string(&Note {
                    from: me.clone(),
                    event,
                })
                .ok()
            })
            .collect();
        if let Err(e) = notify(&pool, &notes).await {
            tracing::warn!(error = ?e, count = notes.len(), "live events not sent to the other replicas");
        }
    }
}

async fn notify(pool: &deadpool_postgres::Pool, notes: &[String]) -> Result<()> {
    let c = pool.get().await?;
    let stmt = c
        .prepare_cached("SELECT pg_notify($1, note) FROM unnest($2::text[]) WITH ORDINALITY AS n(note, i) ORDER BY i")
        .await?;
    c.query(&stmt, &[&CHANNEL, &notes]).await?;
    Ok(())
}

/// Listen for the other processes' events, opening the connection again whenever it ends.
async fn listen(config: tokio_postgres::Config, tls: MakeRustlsConnect, events: Events, me: String) {
    let mut pause = Duration::from_millis(250);
    let mut first = true;
    loop {
        let closing = events.closed();
        let listened = tokio::select! {
            r = listen_once(&config, &tls, &events, &me, !first) => r,
            () = closing => return,
        };
        match listened {
            // It listened: whatever ended it, try again soon.
            Ok(()) => pause = Duration::from_millis(250),
            Err(e) => tracing::warn!(error = ?e, "not hearing other replicas' live events; trying again"),
        }
        first = false;
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// One listening connection, until it fails. `again`: events may have been missed since
/// the last one, so subscribers are told to reload once this one listens.
async fn listen_once(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
    events: &Events,
    me: &str,
    again: bool,
) -> Result<()> {
    let (client, mut conn) = config.connect(tls.clone()).await?;
    let (tx, mut heard): (UnboundedSender<String>, _) = unbounded_channel();
    // The connection is driven here; notifications come out of it.
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_string()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    let _stop_driver = AbortOnDrop(driver.abort_handle());
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    tracing::info!(again, "listening for other replicas' live events");
    if again {
        events.deliver(Event::Resync);
    }
    let mut check = tokio::time::interval(CHECK);
    check.tick().await;
    loop {
        tokio::select! {
            note = heard.recv() => match note {
                Some(payload) => deliver(events, me, &payload),
                None => break,
            },
            _ = check.tick() => {
                tokio::time::timeout(CHECK, client.simple_query("SELECT 1"))
                    .await
                    .map_err(|_| crate::error::Error::DbUnreachable("the listening connection stopped answering".into()))??;
            }
        }
    }
    match driver.await {
        Ok(Err(e)) => Err(e.into()),
        _ => Ok(()),
    }
}

/// Hand another process's event to this one's subscribers; our own and garbled ones are
/// dropped.
fn deliver(events: &Events, me: &str, payload: &str) {
    match serde_json::from_str::<Note>(payload) {
        Ok(note) if note.from != me && note.event != Event::Resync => events.deliver(note.event),
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "ignored a malformed live event"),
    }
}

/// Stops the connection's task when the listener gives it up.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_other_processes_events_are_delivered() {
        let events = Events::new();
        let mut rx = events.subscribe();
        let note = |from: &str, event: Event| {
            serde_json::to_string(&Note {
                from: from.into(),
                event,
            })
            .unwrap()
        };
        deliver(&events, "me", &note("me", Event::Guestbook { id: 1 }));
        deliver(&events, "me", &note("other", Event::Resync));
        deliver(&events, "me", "{not json");
        deliver(&events, "me", &note("other", Event::Guestbook { id: 2 }));
        assert_eq!(rx.try_recv().unwrap(), Event::Guestbook { id: 2 });
        assert!(rx.try_recv().is_err());
        assert_eq!(events.changes(), 1);
    }
}
