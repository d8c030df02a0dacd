//! Fuzzes `ringwire_core::frames`, the multipart layout of a shared-memory message.
//!
//! The first input byte picks a mode (its value modulo 2):
//! - 0: the rest is a message as another process may have written it. Parsing never panics;
//!   the iterator, `validate`, `first`, `last` and a [`Walk`] fed through short, racy-style
//!   copies all agree; every frame lies inside the message; and a valid message's frames
//!   encode back to a message of the same length that parses to the same frames.
//! - 1: the rest describes frames (lengths, then bytes) and an output size. Encoding either
//!   fits and parses back frame for frame, or reports `TooLarge` with the size it needed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwire_core::frames::{self, EncodeError, HEADER, Walk};

fn parse(message: &[u8], cut: usize) {
    let parts: Vec<Result<&[u8], _>> = frames::frames(message).collect();
    // At most one error, and only at the end.
    let errors = parts.iter().filter(|p| p.is_err()).count();
    assert!(errors <= 1);
    assert!(errors == 0 || parts.last().is_some_and(Result::is_err));
    assert!(parts.len() <= message.len() / HEADER + 1);
    let ok: Vec<&[u8]> = parts.iter().filter_map(|p| p.ok()).collect();
    match frames::validate(message) {
        Ok(n) => {
            assert_eq!(errors, 0);
            assert_eq!(n, ok.len());
            assert_eq!(frames::first(message).ok(), ok.first().copied());
            assert_eq!(frames::last(message).ok(), ok.last().copied());
            // Whatever parses re-encodes to the same length and the same frames.
            let mut out = vec![0u8; message.len()];
            let m = frames::encode(&ok, &mut out).expect("a parsed message fits its own length");
            assert_eq!(m, message.len());
            let again: Vec<&[u8]> = frames::frames(&out[..m]).map(|f| f.unwrap()).collect();
            assert_eq!(again, ok);
        }
        Err(e) => {
            assert_eq!(errors, 1);
            assert_eq!(parts.last(), Some(&Err(e)));
            assert!(frames::last(message).is_err());
        }
    }
    // The same walk through copies (as the in-place broadcast reader does), where a copy past
    // `cut` comes up short as if the slot were being overwritten: never a panic, never a span
    // outside the message.
    let mut walk = Walk::new(message.len());
    let mut steps = 0;
    while let Some(span) = walk.next_with(|at, h| {
        let end = (at + HEADER).min(message.len()).min(cut.max(at));
        let got = &message[at.min(end)..end];
        h[..got.len()].copy_from_slice(got);
        got.len() == HEADER
    }) {
        steps += 1;
        assert!(steps <= message.len() / HEADER + 1);
        match span {
            Ok(s) => assert!(s.at + s.len <= message.len()),
            Err(_) => break,
        }
    }
}

fn encode(spec: &[u8]) {
    let Some((&count, rest)) = spec.split_first() else {
        return;
    };
    let count = usize::from(count % 8);
    let (lens, rest) = rest.split_at(count.min(rest.len()));
    let (size, mut bytes) = rest.split_at(rest.len().min(2));
    let out_len = size.iter().fold(0usize, |a, &b| a * 256 + usize::from(b)) % 4096;
    let mut parts: Vec<&[u8]> = Vec::new();
    for &l in lens {
        let take = usize::from(l).min(bytes.len());
        parts.push(&bytes[..take]);
        bytes = &bytes[take..];
    }
    let mut out = vec![0xA5u8; out_len];
    match frames::encode(&parts, &mut out) {
        Ok(n) => {
            assert_eq!(n, frames::encoded_len(parts.iter().copied()));
            let back: Vec<&[u8]> = frames::frames(&out[..n]).map(|f| f.unwrap()).collect();
            assert_eq!(back, parts);
        }
        Err(EncodeError::NoFrames) => assert!(parts.is_empty()),
        Err(EncodeError::TooLarge { size, limit }) => {
            assert_eq!(limit, out_len);
            assert!(size > limit);
        }
        Err(e) => panic!("{e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some((mode, rest)) = data.split_first() {
        if mode % 2 == 0 {
            let cut = rest.first().map_or(0, |&c| usize::from(c) * 4);
            parse(rest, cut);
        } else {
            encode(rest);
        }
    }
});
