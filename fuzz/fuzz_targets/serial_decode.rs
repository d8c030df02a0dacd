//! Fuzzes `ringwire_core::serial::Decoder`.
//!
//! The first input byte picks a mode (its value modulo 3):
//! - 0: the rest is raw line bytes, fed in chunks whose sizes come from the input. The
//!   decoder must never panic, must consume at least one byte per call that reports an event
//!   and all of the chunk when it reports none, and its counters must add up.
//! - 1: the rest describes frames (topic, kind, payload) and the noise between them. They are
//!   encoded, joined with the noise (each noise run ended by a delimiter, as a sender with
//!   leading delimiters does), fed in chunks of input-chosen sizes, and every encoded frame must
//!   come out intact and in order, whatever the noise and the chunking.
//! - 2: one-shot COBS: decoding the rest never panics, and encoding then decoding it gives it
//!   back, within the documented size bound and with no zero byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwire_core::serial::{Decoder, Encoder, FrameKind, cobs, max_wire_len};

const N: usize = 96;

/// Feeds `wire` in chunks sized from `sizes` (cycled) and returns the decoded frames.
fn feed_all(dec: &mut Decoder<N>, wire: &[u8], sizes: &[u8]) -> Vec<(u8, u16, u16, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut rest = wire;
    let mut k = 0;
    while !rest.is_empty() {
        let size = sizes.get(k % sizes.len().max(1)).copied().unwrap_or(7);
        k += 1;
        let take = usize::from(size).clamp(1, rest.len());
        let mut chunk = &rest[..take];
        rest = &rest[take..];
        while !chunk.is_empty() {
            let (used, event) = dec.feed(chunk);
            assert!(used <= chunk.len());
            match event {
                None => assert_eq!(used, chunk.len()),
                Some(ev) => {
                    assert!(used >= 1);
                    if let Ok(f) = ev {
                        assert!(f.payload.len() <= Decoder::<N>::MAX_PAYLOAD);
                        frames.push((
                            f.header.kind as u8,
                            f.header.topic,
                            f.header.seq,
                            f.payload.to_vec(),
                        ));
                    }
                }
            }
            chunk = &chunk[used..];
        }
    }
    frames
}

fn raw_bytes(data: &[u8]) {
    let (sizes, line) = data.split_at(data.len().min(8));
    let mut dec = Decoder::<N>::new();
    let frames = feed_all(&mut dec, line, sizes);
    let s = dec.stats();
    assert_eq!(s.frames as usize, frames.len());
    assert_eq!(
        s.resyncs,
        s.too_long + s.bad_encoding + s.truncated + s.crc_errors + s.unknown_kind
    );
}

fn round_trip(data: &[u8]) {
    let (sizes, mut spec) = data.split_at(data.len().min(4));
    let mut enc = Encoder::<N>::new();
    enc.set_leading_delimiter(true);
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    let mut buf = [0u8; max_wire_len(N)];
    // Each frame: [noise_len, kind_sel, topic, payload_len, noise..., payload...]
    while spec.len() >= 4 && sent.len() < 64 {
        let noise_len = usize::from(spec[0] % 16);
        let kind =
            [FrameKind::Publish, FrameKind::Command, FrameKind::Ack][usize::from(spec[1] % 3)];
        let topic = u16::from(spec[2]) * 257;
        let payload_len = usize::from(spec[3]) % (Encoder::<N>::MAX_PAYLOAD + 1);
        spec = &spec[4..];
        let noise = &spec[..noise_len.min(spec.len())];
        spec = &spec[noise.len()..];
        let payload = &spec[..payload_len.min(spec.len())];
        spec = &spec[payload.len()..];
        wire.extend_from_slice(noise);
        let seq = enc.next_seq();
        let n = enc
            .encode(kind, topic, payload, &mut buf)
            .expect("a payload within MAX_PAYLOAD always encodes into max_wire_len bytes");
        wire.extend_from_slice(&buf[..n]);
        sent.push((kind as u8, topic, seq, payload.to_vec()));
    }
    let mut dec = Decoder::<N>::new();
    let got = feed_all(&mut dec, &wire, sizes);
    // Noise can itself form a valid frame, so the frames sent must be a subsequence of those
    // received (in practice, all of them, with nothing between).
    let mut it = got.iter();
    for want in &sent {
        assert!(it.any(|g| g == want), "frame {want:?} lost; got {got:?}");
    }
}

fn cobs_one_shot(data: &[u8]) {
    let mut out = vec![0u8; data.len()];
    let _ = cobs::decode(data, &mut out);
    let mut enc = vec![0u8; cobs::max_encoded_len(data.len())];
    let n = cobs::encode(data, &mut enc).expect("max_encoded_len is enough");
    assert!(!enc[..n].contains(&0));
    let mut back = vec![0u8; data.len()];
    let m = cobs::decode(&enc[..n], &mut back).expect("an encoding decodes");
    assert_eq!(&back[..m], data);
}

fuzz_target!(|data: &[u8]| {
    if let Some((mode, rest)) = data.split_first() {
        match mode % 3 {
            0 => raw_bytes(rest),
            1 => round_trip(rest),
            _ => cobs_one_shot(rest),
        }
    }
});
