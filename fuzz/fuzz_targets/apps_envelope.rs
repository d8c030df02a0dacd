//! Fuzzes the applications envelope parsers (`ringwire_core::apps`) with arbitrary frame
//! lists, as a hostile client or server could send them:
//! - neither `ClientMsg::parse` nor `ServerMsg::parse` panics;
//! - a client message that parses has a client kind, the right frame count and names of 1 to
//!   `MAX_NAME` bytes (none for HELLO), and its header encodes back to its first frame;
//! - a refusal carries the message id exactly when the header frame was readable, so the
//!   server can answer it;
//! - a server message that parses has a server kind and the id of its header.
//!
//! Input: a byte giving the frame count (0..=8), a length byte per frame, then the bytes the
//! frames are cut from (a frame gets what is left when its length runs past the end).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwire_core::apps::{self, ClientMsg, MAX_NAME, ServerMsg, kind};

fn frames(data: &[u8]) -> Vec<&[u8]> {
    let Some((&n, rest)) = data.split_first() else {
        return Vec::new();
    };
    let n = usize::from(n % 9).min(rest.len());
    let (lens, mut body) = rest.split_at(n);
    lens.iter()
        .map(|&len| {
            let (frame, tail) = body.split_at(usize::from(len).min(body.len()));
            body = tail;
            frame
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let frames = frames(data);
    let header = frames.first().and_then(|f| apps::parse_header(f).ok());
    match ClientMsg::parse(&frames) {
        Ok(m) => {
            let h = m.header;
            assert_eq!(Some(h), header);
            assert_eq!(
                apps::header(h.kind, h.flags, h.code, h.id).as_slice(),
                frames[0]
            );
            if h.kind == kind::HELLO {
                assert_eq!(frames.len(), 1);
                assert!(m.app.is_empty() && m.channel.is_empty() && m.payload.is_empty());
            } else {
                assert!((kind::REQUEST..=kind::NOTIFY).contains(&h.kind), "{h:?}");
                assert_eq!(frames.len(), 4);
                for name in [m.app, m.channel] {
                    assert!(!name.is_empty() && name.len() <= MAX_NAME);
                }
                assert_eq!(m.payload, frames[3]);
            }
        }
        Err((id, _)) => assert_eq!(id, header.map(|h| h.id)),
    }
    if let Ok(m) = ServerMsg::parse(&frames) {
        let h = header.expect("a server message parsed without a readable header");
        assert!(h.kind & 0x80 != 0, "{h:?}");
        let id = match m {
            ServerMsg::Response { id, .. }
            | ServerMsg::Ack { id, .. }
            | ServerMsg::Error { id, .. }
            | ServerMsg::Welcome { id, .. } => Some(id),
            ServerMsg::Message { .. } => None,
        };
        if let Some(id) = id {
            assert_eq!(id, h.id);
        }
    }
});
