//! The functions a [`Worker`](super::Worker) or [`Server`](super::Server) runs, by event
//! name, and how a request body becomes a reply body.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{STATUS_HANDLER_ERROR, STATUS_OK};
use crate::codec::{Codec, Postcard};

type EventFn = dyn Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync;
type AnyFn = dyn Fn(&[u8]) -> Vec<u8> + Send + Sync;

/// Handlers by event name, plus an optional catch-all.
///
/// A request body in the envelope form (event name, payload) runs the event's handler (or
/// the catch-all) and is answered `[status, payload]`. A body in any other form (a guide
/// peer's bare request) is answered frame by frame by the catch-all, or with a status-1
/// error when there is none. Cloning shares the functions.
///
/// ```
/// use ringwire::broker::Handlers;
/// let h = Handlers::new()
///     .on("add", |(a, b): (i32, i32)| a + b)
///     .on_bytes("upper", |p| p.to_ascii_uppercase());
/// let reply = h.handle(&[b"upper".to_vec(), b"abc".to_vec()]);
/// assert_eq!(reply, vec![vec![0u8], b"ABC".to_vec()]);
/// ```
#[derive(Clone, Default)]
pub struct Handlers {
    events: HashMap<String, Arc<EventFn>>,
    any: Option<Arc<AnyFn>>,
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.events.keys().collect();
        names.sort();
        f.debug_struct("Handlers")
            .field("events", &names)
            .field("any", &self.any.is_some())
            .finish()
    }
}

impl Handlers {
    /// No handlers: every request is answered with a status-1 error.
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `f` for `event`, its payload and reply in postcard.
    pub fn on<Q, A, F>(self, event: &str, f: F) -> Self
    where
        Q: DeserializeOwned,
        A: Serialize,
        F: Fn(Q) -> A + Send + Sync + 'static,
    {
        self.on_as::<Postcard, Q, A, F>(event, f)
    }

    /// Runs `f` for `event`, its payload and reply in codec `C` (e.g. `codec::Json`).
    pub fn on_as<C, Q, A, F>(self, event: &str, f: F) -> Self
    where
        C: Codec,
        Q: DeserializeOwned,
        A: Serialize,
        F: Fn(Q) -> A + Send + Sync + 'static,
    {
        let name = event.to_string();
        self.on_result(event, move |payload| {
            let q = C::decode::<Q>(payload)
                .map_err(|e| format!("cannot decode the payload of {name:?} ({}): {e}", C::NAME))?;
            C::encode(&f(q)).map_err(|e| format!("cannot encode the reply to {name:?}: {e}"))
        })
    }

    /// Runs `f` on the raw payload of `event`; its bytes are the reply payload.
    pub fn on_bytes<F>(self, event: &str, f: F) -> Self
    where
        F: Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
    {
        self.on_result(event, move |p| Ok(f(p)))
    }

    /// Runs `f` on the raw payload of `event`; an `Err` is sent to the client as a status-1
    /// error with that message.
    pub fn on_result<F>(mut self, event: &str, f: F) -> Self
    where
        F: Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync + 'static,
    {
        self.events.insert(event.to_string(), Arc::new(f));
        self
    }

    /// Runs `f` on the payload of every event that has no handler of its own, and on every
    /// frame of a body that is not in the envelope form.
    pub fn any<F>(mut self, f: F) -> Self
    where
        F: Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static,
    {
        self.any = Some(Arc::new(f));
        self
    }

    /// The reply body to a request body.
    pub fn handle<F: AsRef<[u8]>>(&self, body: &[F]) -> Vec<Vec<u8>> {
        let error = |msg: String| vec![vec![STATUS_HANDLER_ERROR], msg.into_bytes()];
        let envelope = match body {
            [event, payload] => std::str::from_utf8(event.as_ref())
                .ok()
                .filter(|e| !e.is_empty() && e.len() <= super::MAX_EVENT)
                .map(|e| (e, payload.as_ref())),
            _ => None,
        };
        let Some((event, payload)) = envelope else {
            return match &self.any {
                Some(f) => body.iter().map(|frame| f(frame.as_ref())).collect(),
                None => error(format!(
                    "not a request envelope ({} frames; expected event name, payload)",
                    body.len()
                )),
            };
        };
        let reply = match (self.events.get(event), &self.any) {
            (Some(f), _) => f(payload),
            (None, Some(f)) => Ok(f(payload)),
            (None, None) => Err(format!("no handler for event {event:?}")),
        };
        match reply {
            Ok(bytes) => vec![vec![STATUS_OK], bytes],
            Err(msg) => error(msg),
        }
    }
}
