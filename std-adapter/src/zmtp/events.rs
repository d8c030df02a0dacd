//! A socket's monitor events published on an endpoint, so another process (`ringwire monitor
//! EP`, a Python script with pyzmq, an operator's dashboard) can watch connections come and
//! go while the program runs.
//!
//! [`EventPublisher::start`] binds a PUB socket at the endpoint and forwards every
//! [`SocketEvent`] of the receiver it is given (from a socket's `monitor()`, or the socket's
//! own `publish_events`) as one message of four text frames:
//!
//! | frame | holds |
//! |---|---|
//! | 0 | the event's kind, also the topic to subscribe to: `listening`, `accepted`, `connected`, `handshake-succeeded`, `handshake-failed`, `disconnected`, `message-too-large`, `retried`, `rejected` |
//! | 1 | the socket's endpoint the connection belongs to |
//! | 2 | the peer's address (`tcp://ip:port`), empty where it has none |
//! | 3 | details as space-separated `key=value` pairs: `routing_id=HEX` (when the peer has one), `reason="..."` (quoted, `"` and `\` escaped), `size=N limit=N`, `delay_ms=N`; empty when there are none |
//!
//! A heartbeat expiry is a `disconnected` event whose reason says so. Events that arrive while
//! no subscriber is connected are dropped, as a PUB socket does; the publisher keeps at most
//! its send high-water mark for a slow subscriber.

use crate::stop_thread::StopThread;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use super::options::SocketEvent;
use super::sockets::Pub;
use crate::endpoint::Endpoint;
use crate::error::Result;

/// How often the forwarding thread looks at its stop flag when no event comes.
const IDLE: Duration = Duration::from_millis(50);

/// A thread publishing a socket's events (see the module docs); dropping it stops the thread
/// and closes the PUB socket.
pub struct EventPublisher {
    bound: Vec<Endpoint>,
    // Stopped and joined when the publisher is dropped.
    _thread: StopThread<()>,
}

impl EventPublisher {
    /// Binds a PUB socket at `endpoint` and forwards every event from `events` to it until the
    /// sender side closes (the monitored socket is dropped) or this handle is dropped.
    pub fn start(events: Receiver<SocketEvent>, endpoint: &str) -> Result<EventPublisher> {
        let mut publisher = Pub::bind(endpoint)?;
        let bound = publisher.bound_endpoints().to_vec();
        let thread = StopThread::spawn("ringwire-events", move |stop| {
            forward(&events, &mut publisher, &stop)
        })
        .map_err(crate::error::Error::Io)?;
        log::debug!("publishing socket events on {endpoint}");
        Ok(EventPublisher {
            bound,
            _thread: thread,
        })
    }

    /// The endpoints the event socket is bound to (a tcp port 0 resolved).
    pub fn bound_endpoints(&self) -> &[Endpoint] {
        &self.bound
    }
}

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher")
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

fn forward(events: &Receiver<SocketEvent>, publisher: &mut Pub, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match events.recv_timeout(IDLE) {
            Ok(event) => {
                let [kind, endpoint, peer, details] = frames(&event);
                let sent = publisher.send_multipart(&[
                    kind.as_bytes(),
                    endpoint.as_bytes(),
                    peer.as_bytes(),
                    details.as_bytes(),
                ]);
                if let Err(e) = sent {
                    log::warn!("socket events: publishing failed: {e}");
                    return;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        // Writes what is queued and serves subscriptions.
        let _ = publisher.process();
    }
    let _ = publisher.flush();
}

/// `reason="..."` with `"` and `\` escaped.
fn quoted(key: &str, text: &str) -> String {
    let mut out = format!("{key}=\"");
    for c in text.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `routing_id=HEX ` (with its space), or nothing for an empty id.
fn routing(id: &[u8]) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!("routing_id={} ", hex(id))
    }
}

fn peer_of(peer: &Option<Endpoint>) -> String {
    peer.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// The four frames of `event` (see the module docs).
pub fn frames(event: &SocketEvent) -> [String; 4] {
    let no = String::new;
    match event {
        SocketEvent::Listening(ep) => ["listening".into(), ep.to_string(), no(), no()],
        SocketEvent::Accepted { endpoint, peer } => {
            ["accepted".into(), endpoint.to_string(), peer_of(peer), no()]
        }
        SocketEvent::Connected(ep) => ["connected".into(), ep.to_string(), no(), no()],
        SocketEvent::HandshakeSucceeded {
            endpoint,
            peer,
            routing_id,
        } => [
            "handshake-succeeded".into(),
            endpoint.to_string(),
            peer_of(peer),
            routing(routing_id).trim_end().to_string(),
        ],
        SocketEvent::HandshakeFailed {
            endpoint,
            peer,
            reason,
        } => [
            "handshake-failed".into(),
            endpoint.to_string(),
            peer_of(peer),
            quoted("reason", reason),
        ],
        SocketEvent::Disconnected {
            endpoint,
            peer,
            routing_id,
            reason,
        } => [
            "disconnected".into(),
            endpoint.to_string(),
            peer_of(peer),
            format!("{}{}", routing(routing_id), quoted("reason", reason)),
        ],
        SocketEvent::MessageTooLarge {
            endpoint,
            peer,
            size,
            limit,
        } => [
            "message-too-large".into(),
            endpoint.to_string(),
            peer_of(peer),
            format!("size={size} limit={limit}"),
        ],
        SocketEvent::Retried { endpoint, delay } => [
            "retried".into(),
            endpoint.to_string(),
            no(),
            format!("delay_ms={}", delay.as_millis()),
        ],
        SocketEvent::Rejected { endpoint, peer } => {
            ["rejected".into(), endpoint.to_string(), peer_of(peer), no()]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_has_its_documented_frames() {
        let ep: Endpoint = "tcp://127.0.0.1:5555".parse().unwrap();
        let peer: Endpoint = "tcp://127.0.0.1:40000".parse().unwrap();
        let gone = SocketEvent::Disconnected {
            endpoint: ep.clone(),
            peer: Some(peer.clone()),
            routing_id: vec![0, 0xAB],
            reason: "heartbeat \"expired\"".into(),
        };
        assert_eq!(
            frames(&gone),
            [
                "disconnected".to_string(),
                "tcp://127.0.0.1:5555".into(),
                "tcp://127.0.0.1:40000".into(),
                r#"routing_id=00ab reason="heartbeat \"expired\"""#.into(),
            ]
        );
        let big = SocketEvent::MessageTooLarge {
            endpoint: ep.clone(),
            peer: None,
            size: 10,
            limit: 5,
        };
        assert_eq!(
            frames(&big)[2..],
            ["".to_string(), "size=10 limit=5".into()]
        );
        let retried = SocketEvent::Retried {
            endpoint: ep,
            delay: Duration::from_millis(250),
        };
        assert_eq!(frames(&retried)[3], "delay_ms=250");
    }
}
