//! Server-sent events: a live screen subscribes to the app's event bus through a filter
//! that picks (and shapes) what that screen may see. Keep-alive comments hold the
//! connection open through proxies; a subscriber that fell behind gets `resync` and
//! reloads what it shows. Streams end when the kiosk stops (so they never hold up a
//! graceful shutdown); browsers reconnect by themselves.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::app::App;
use crate::events::Event;

/// How often an idle stream sends a comment, so nothing in between closes it.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A stream of the app's events that `pick` lets through, as SSE.
pub fn stream<F>(app: &App, pick: F) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>> + use<F>>
where
    F: Fn(&Event) -> Option<SseEvent> + Send + 'static,
{
    let rx = app.events.subscribe();
    let events = futures::stream::unfold((rx, pick), |(mut rx, pick)| async move {
        loop {
            match rx.recv().await {
                // Another replica's events may have been missed: same as falling behind.
                Ok(Event::Resync) | Err(RecvError::Lagged(_)) => {
                    return Some((Ok(SseEvent::default().event("resync").data("{}")), (rx, pick)));
                }
                Ok(e) => {
                    if let Some(out) = pick(&e) {
                        return Some((Ok(out), (rx, pick)));
                    }
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let events = futures::StreamExt::take_until(events, app.events.closed());
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// The event as JSON under its kind's name (`visitor`, `job`, `printer`, `guestbook`).
pub fn as_json(e: &Event) -> SseEvent {
    let kind = match e {
        Event::Visitor { .. } => "visitor",
        Event::Job { .. } => "job",
        Event::Printer { .. } => "printer",
        Event::Guestbook { .. } => "guestbook",
        Event::Resync => "resync",
    };
    SseEvent::default()
        .event(kind)
        .json_data(e)
        .unwrap_or_else(|_| SseEvent::default().event(kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn picked_events_arrive_as_sse_frames() {
        let dir = tempfile::tempdir().unwrap();
        let app = crate::web::tests::app_state(dir.path());
        let only_jobs = |e: &Event| matches!(e, Event::Job { .. }).then(|| as_json(e));
        let mut body = stream(&app, only_jobs).into_response().into_body();
        app.events.emit(Event::Visitor { id: "v".into() });
        app.events.emit(Event::Job {
            id: 7,
            visitor: "v".into(),
            state: crate::store::jobs::JobState::Printing,
        });
        let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
        let text = String::from_utf8(frame.to_vec()).unwrap();
        assert_eq!(
            text,
            "event: job\ndata: {\"kind\":\"job\",\"id\":7,\"visitor\":\"v\",\"state\":\"printing\"}\n\n"
        );
        // The kiosk stops: the stream ends instead of holding the shutdown open.
        app.events.close();
        assert!(body.frame().await.is_none());
    }
}
