//! Fuzzes the ZMTP decoder two ways:
//! 1. the input's tail fed as raw wire bytes in chunk sizes drawn from its head — the
//!    decoder must never panic, must consume input or return an item, and must stop
//!    after an error;
//! 2. frames built from the input, encoded with the encoder behind a valid handshake,
//!    must decode back identically whatever the chunking, also when some pieces of
//!    frame bodies are taken by the caller and accounted with `skip_body` (as a
//!    connection receiving a large frame straight into its message does).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwire_core::zmtp::{self, Decoder, Item, Limits, Version};

fn chunks<'a>(data: &'a [u8], sizes: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = data;
    let mut i = 0;
    core::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let s = sizes.get(i % sizes.len().max(1)).copied().unwrap_or(7);
        i += 1;
        let n = (usize::from(s) % 97 + 1).min(rest.len());
        let (a, b) = rest.split_at(n);
        rest = b;
        Some(a)
    })
}

fn raw(sizes: &[u8], wire: &[u8]) {
    let limits = Limits { max_frame: 1 << 16, max_message: 1 << 17, max_parts: 64, max_command: 300 };
    let mut dec: Decoder<256> = Decoder::new(limits);
    for piece in chunks(wire, sizes) {
        let mut input = piece;
        while !input.is_empty() {
            match dec.decode(input) {
                Ok((used, item)) => {
                    assert!(used <= input.len());
                    assert!(used > 0 || item.is_some(), "no progress");
                    if item.is_none() {
                        assert_eq!(used, input.len());
                    }
                    input = &input[used..];
                }
                Err(_) => {
                    assert!(dec.decode(b"\x00").is_err());
                    return;
                }
            }
        }
    }
}

fn round_trip(sizes: &[u8], spec: &[u8]) {
    // spec: repeated [flags, len, bytes...]; builds frames of up to 300 bytes.
    let mut frames: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut rest = spec;
    while rest.len() >= 2 && frames.len() < 32 {
        let more = rest[0] & 1 != 0;
        let len = usize::from(rest[1]) + if rest[0] & 2 != 0 { 200 } else { 0 };
        rest = &rest[2..];
        let body: Vec<u8> = (0..len).map(|i| rest.get(i % rest.len().max(1)).copied().unwrap_or(i as u8)).collect();
        frames.push((more, body));
    }
    if let Some(last) = frames.last_mut() {
        last.0 = false;
    }
    let mut wire = vec![0u8; 64 + 64];
    let mut n = zmtp::encode_greeting(&mut wire, Version::V3_1, false).unwrap();
    n += zmtp::encode_ready(&mut wire[n..], &[(b"Socket-Type", b"DEALER")]).unwrap();
    wire.truncate(n);
    for (more, body) in &frames {
        let mut buf = vec![0u8; 9 + body.len()];
        let k = zmtp::encode_frame(&mut buf, *more, body).unwrap();
        wire.extend_from_slice(&buf[..k]);
    }
    let mut dec: Decoder<256> = Decoder::new(Limits::default());
    let mut got: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut body = Vec::new();
    let skip_mask = sizes.first().copied().unwrap_or(0);
    for (i, piece) in chunks(&wire, sizes).enumerate() {
        let mut input = piece;
        while !input.is_empty() {
            let left = dec.frame_body_left();
            if left > 0 && skip_mask & (1 << (i % 8)) != 0 {
                let k = input.len().min(left as usize);
                body.extend_from_slice(&input[..k]);
                // Asking for more than the frame has left takes only the rest of it.
                let ask = if k as u64 == left { left + 3 } else { k as u64 };
                let (took, ended) = dec.skip_body(ask);
                assert_eq!(took, k as u64, "skip_body takes at most what the frame has left");
                if let Some(more) = ended {
                    got.push((more, std::mem::take(&mut body)));
                }
                input = &input[k..];
                continue;
            }
            let (used, item) = dec.decode(input).expect("encoder output must decode");
            if let Some(Item::Frame(p)) = item {
                assert_eq!(p.offset, body.len() as u64);
                body.extend_from_slice(p.data);
                if p.is_last() {
                    got.push((p.more, std::mem::take(&mut body)));
                }
            }
            input = &input[used..];
        }
    }
    assert_eq!(got, frames);
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let split = usize::from(split % 16).min(rest.len());
    let (sizes, body) = rest.split_at(split);
    raw(sizes, body);
    round_trip(sizes, body);
});
