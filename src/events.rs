//! What just happened, for screens that update live (the wall, the staff console, a
//! visitor's page). A broadcast: publishers never wait, a slow subscriber only misses
//! events (and is told so, to reload). Events carry ids and states only, never a name,
//! email or token: the wall's stream is public.
//!
//! Kiosks sharing a database share their events too: the store relays what this
//! process emits ([`Events::relay`]) and delivers what the others emitted
//! ([`Events::deliver`]), so a screen on one replica follows what happens on another.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, watch};

use crate::store::jobs::JobState;

/// One thing that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A visitor was added, or their certificate's state changed (issued, failed,
    /// delayed, voided).
    Visitor {
        /// The visitor's random id.
        id: String,
    },
    /// A print job was queued or changed state.
    Job {
        /// Job number.
        id: i64,
        /// Whose ticket.
        visitor: String,
        /// Its new state.
        state: JobState,
    },
    /// The printer's status changed.
    Printer {
        /// What staff read.
        status: String,
    },
    /// A guestbook entry was written or replaced.
    Guestbook {
        /// Entry id.
        id: i64,
    },
    /// Events from other replicas may have been missed (the database went away and came
    /// back): whatever a screen shows, it should fetch again. Only ever delivered here,
    /// never relayed.
    Resync,
}

/// The bus; cheap to clone. It also counts what it carried, so a page rendered for
/// everyone can tell whether anything happened since.
#[derive(Debug, Clone)]
pub struct Events {
    bus: broadcast::Sender<Event>,
    /// How many events were emitted (see [`Events::changes`]).
    emitted: Arc<AtomicU64>,
    /// Set once the kiosk is stopping: live streams end, so they do not hold it up.
    closing: watch::Sender<bool>,
    /// Where emitted events also go, for other replicas (set by [`Events::relay`]).
    outbox: Arc<OnceLock<mpsc::UnboundedSender<Event>>>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    /// A bus that keeps the last 256 events for slow subscribers.
    pub fn new() -> Self {
        Events {
            bus: broadcast::channel(256).0,
            emitted: Arc::default(),
            closing: watch::channel(false).0,
            outbox: Arc::default(),
        }
    }

    /// Tell whoever listens, here and (once relayed) on the other replicas; nobody
    /// listening is fine.
    pub fn emit(&self, e: Event) {
        if let Some(out) = self.outbox.get() {
            let _ = out.send(e.clone());
        }
        self.deliver(e);
    }

    /// Tell listeners in this process only: an event another replica emitted.
    pub fn deliver(&self, e: Event) {
        self.emitted.fetch_add(1, Ordering::SeqCst);
        let _ = self.bus.send(e);
    }

    /// From now on, every emitted event is also handed to the returned receiver (the
    /// store relays them to the other replicas). `None` if something relays already.
    pub fn relay(&self) -> Option<mpsc::UnboundedReceiver<Event>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.outbox.set(tx).ok().map(|()| rx)
    }

    /// How many events were emitted so far: equal readings mean nothing happened between.
    pub fn changes(&self) -> u64 {
        self.emitted.load(Ordering::SeqCst)
    }

    /// Listen from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.bus.subscribe()
    }

    /// The kiosk is stopping: tell listeners to hang up.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`Events::close`] was called (at once if it already was).
    pub fn closed(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|closing| *closing).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn subscribers_get_what_is_emitted_after_they_subscribe() {
        let bus = Events::new();
        bus.emit(Event::Guestbook { id: 1 });
        let mut rx = bus.subscribe();
        bus.emit(Event::Visitor { id: "v".into() });
        assert_eq!(rx.recv().await.unwrap(), Event::Visitor { id: "v".into() });
        let json = serde_json::to_string(&Event::Job {
            id: 3,
            visitor: "v".into(),
            state: JobState::Printed,
        })
        .unwrap();
        assert_eq!(json, r#"{"kind":"job","id":3,"visitor":"v","state":"printed"}"#);
    }

    #[tokio::test]
    async fn emitted_events_are_relayed_and_delivered_ones_stay_here() {
        let bus = Events::new();
        let mut relayed = bus.relay().unwrap();
        assert!(bus.relay().is_none(), "one relay");
        let mut rx = bus.subscribe();
        bus.emit(Event::Guestbook { id: 1 });
        bus.deliver(Event::Resync);
        assert_eq!(rx.recv().await.unwrap(), Event::Guestbook { id: 1 });
        assert_eq!(rx.recv().await.unwrap(), Event::Resync);
        assert_eq!(relayed.recv().await.unwrap(), Event::Guestbook { id: 1 });
        assert!(relayed.try_recv().is_err(), "delivered events are not relayed back");
        assert_eq!(bus.changes(), 2, "both change what screens show");
        let back: Event = serde_json::from_str(r#"{"kind":"job","id":3,"visitor":"v","state":"printed"}"#).unwrap();
        assert_eq!(
            back,
            Event::Job {
                id: 3,
                visitor: "v".into(),
                state: JobState::Printed
            }
        );
    }

    #[tokio::test]
    async fn closing_is_heard_by_everyone_once_and_for_all() {
        let bus = Events::new();
        let early = bus.closed();
        bus.close();
        early.await;
        bus.closed().await;
    }
}
