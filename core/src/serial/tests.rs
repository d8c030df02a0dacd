//! Codec tests: golden frames from `docs/serial-framing.md`, chunking, noise, every error.

use std::vec::Vec;

use super::*;

/// Feeds `input` in chunks of the given sizes (cycled) and collects every event.
fn decode_chunked<const N: usize>(
    dec: &mut Decoder<N>,
    input: &[u8],
    chunks: &[usize],
) -> Vec<Result<(Header, Vec<u8>), FrameError>> {
    let mut out = Vec::new();
    let mut rest = input;
    let mut k = 0;
    while !rest.is_empty() {
        let take = chunks[k % chunks.len()].clamp(1, rest.len());
        k += 1;
        let mut chunk = &rest[..take];
        rest = &rest[take..];
        while !chunk.is_empty() {
            let (used, event) = dec.feed(chunk);
            assert!(used >= 1 && used <= chunk.len());
            if event.is_none() {
                assert_eq!(used, chunk.len());
            }
            chunk = &chunk[used..];
            if let Some(ev) = event {
                out.push(ev.map(|f| (f.header, f.payload.to_vec())));
            }
        }
    }
    out
}

fn encode_one<const N: usize>(
    enc: &mut Encoder<N>,
    kind: FrameKind,
    topic: u16,
    p: &[u8],
) -> Vec<u8> {
    let mut wire = std::vec![0u8; max_wire_len(N)];
    let n = enc.encode(kind, topic, p, &mut wire).unwrap();
    wire.truncate(n);
    wire
}

/// Golden vector 1 of docs/serial-framing.md: Publish, topic 0x0102, seq 3, postcard payload
/// of `(7u8, 300u16)`.
const GOLDEN_PUBLISH: [u8; 14] = [
    0x05, 0x01, 0x02, 0x01, 0x03, 0x08, 0x07, 0xAC, 0x02, 0xD1, 0xE2, 0x0C, 0x70, 0x00,
];
/// Golden vector 2: Command, topic 0, seq 0, empty payload.
const GOLDEN_COMMAND: [u8; 11] = [
    0x02, 0x02, 0x01, 0x01, 0x01, 0x05, 0x6D, 0xA9, 0x50, 0x35, 0x00,
];

#[test]
fn golden_frames_encode() {
    let mut enc = Encoder::<32>::new();
    let mut wire = [0u8; max_wire_len(32)];
    let n = enc.encode(FrameKind::Command, 0, &[], &mut wire).unwrap();
    assert_eq!(&wire[..n], &GOLDEN_COMMAND);
    let _ = enc.encode(FrameKind::Publish, 0, &[], &mut wire).unwrap();
    let _ = enc.encode(FrameKind::Publish, 0, &[], &mut wire).unwrap();
    assert_eq!(enc.next_seq(), 3);
    let n = enc
        .encode_msg(FrameKind::Publish, 0x0102, &(7u8, 300u16), &mut wire)
        .unwrap();
    assert_eq!(&wire[..n], &GOLDEN_PUBLISH);
}

#[test]
fn golden_frames_decode() {
    let mut dec = Decoder::<32>::new();
    let mut wire = Vec::new();
    wire.extend_from_slice(&GOLDEN_COMMAND);
    wire.extend_from_slice(&GOLDEN_PUBLISH);
    let events = decode_chunked(&mut dec, &wire, &[1000]);
    assert_eq!(events.len(), 2);
    let (h, p) = events[0].clone().unwrap();
    assert_eq!(
        (h.kind, h.topic, h.seq, p.len()),
        (FrameKind::Command, 0, 0, 0)
    );
    let (h, p) = events[1].clone().unwrap();
    assert_eq!((h.kind, h.topic, h.seq), (FrameKind::Publish, 0x0102, 3));
    assert_eq!(crate::msg::decode::<(u8, u16)>(&p), Ok((7, 300)));
    assert_eq!(dec.stats().frames, 2);
    assert_eq!(dec.stats().seq.lost, 2);
    assert_eq!(dec.stats().seq.gaps, 1);
}

#[test]
fn round_trip_every_chunking() {
    let mut enc = Encoder::<300>::new();
    let mut wire = Vec::new();
    let mut sent = Vec::new();
    for i in 0..20u16 {
        // Payloads from empty to 291 bytes, zeros included, so long COBS runs occur too.
        let len = usize::from(i) * 15 % (Encoder::<300>::MAX_PAYLOAD + 1);
        let payload: Vec<u8> = (0..len).map(|j| (j as u16 * 31 + i) as u8).collect();
        wire.extend(encode_one(&mut enc, FrameKind::Publish, i, &payload));
        sent.push((i, payload));
    }
    for chunk in [1usize, 2, 3, 7, 64, 255, 256, 4096] {
        let mut dec = Decoder::<300>::new();
        let got = decode_chunked(&mut dec, &wire, &[chunk, chunk / 2 + 1]);
        assert_eq!(got.len(), sent.len(), "chunk {chunk}");
        for ((topic, payload), ev) in sent.iter().zip(&got) {
            let (h, p) = ev.clone().unwrap();
            assert_eq!((h.topic, h.seq), (*topic, *topic));
            assert_eq!(&p, payload);
        }
        assert_eq!(dec.stats().errors(), 0);
        assert_eq!(dec.stats().seq.lost, 0);
    }
}

#[test]
fn noise_between_frames_is_counted_and_skipped() {
    let mut enc = Encoder::<64>::new();
    enc.set_leading_delimiter(true);
    let mut wire = Vec::new();
    wire.extend(encode_one(&mut enc, FrameKind::Publish, 1, b"one"));
    wire.extend_from_slice(&[0x42, 0x13, 0x99, 0x07]); // noise, ended by the next leading 0
    wire.extend(encode_one(&mut enc, FrameKind::Publish, 2, b"two"));
    wire.extend_from_slice(&[0, 0, 0]); // idle fill
    wire.extend(encode_one(&mut enc, FrameKind::Publish, 3, b"three"));
    let mut dec = Decoder::<64>::new();
    let got = decode_chunked(&mut dec, &wire, &[5]);
    let frames: Vec<_> = got.iter().filter_map(|e| e.as_ref().ok()).collect();
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[2].1, b"three");
    assert_eq!(got.iter().filter(|e| e.is_err()).count(), 1);
    let s = dec.stats();
    assert_eq!(s.resyncs, 1);
    assert_eq!(s.discarded_bytes, 4);
    assert_eq!(s.errors(), s.crc_errors + s.bad_encoding + s.truncated);
}

#[test]
fn corruption_inside_a_frame_is_a_crc_error_and_the_next_frame_survives() {
    let mut enc = Encoder::<64>::new();
    let mut a = encode_one(&mut enc, FrameKind::Publish, 1, b"payload-a");
    let b = encode_one(&mut enc, FrameKind::Publish, 1, b"payload-b");
    let c = encode_one(&mut enc, FrameKind::Publish, 1, b"payload-c");
    a[7] ^= 0x10; // a flipped data bit keeps the COBS structure intact
    let mut wire = a;
    wire.extend(b);
    let mut b2 = c.clone();
    b2.insert(4, 0x55); // an invented byte shifts everything after it
    wire.extend(b2);
    wire.extend(c);
    let mut dec = Decoder::<64>::new();
    let got = decode_chunked(&mut dec, &wire, &[3, 11]);
    assert_eq!(got[0], Err(FrameError::Crc));
    assert_eq!(got[1].as_ref().unwrap().1, b"payload-b");
    assert!(got[2].is_err());
    assert_eq!(got[3].as_ref().unwrap().1, b"payload-c");
    assert_eq!(dec.stats().resyncs, 2);
    assert_eq!(dec.stats().frames, 2);
    // frame 0 (seq 0) and frame 2's first copy were dropped; seq 1 is first, then seq 2.
    assert_eq!(dec.stats().seq.lost, 0);
}

#[test]
fn each_error_kind() {
    let mut dec = Decoder::<16>::new();
    // Too long: 20 non-zero bytes in a 16-byte decoder, reported once, then resync.
    let mut wire = std::vec![0xFFu8; 20];
    wire.push(0);
    // COBS run cut short: code 5 but only 2 data bytes before the delimiter.
    wire.extend_from_slice(&[0x05, 1, 2, 0]);
    // Too short for header + CRC.
    wire.extend_from_slice(&[0x04, 1, 2, 3, 0]);
    // Unknown kind 0x09, with a correct CRC.
    let mut raw = std::vec![0x09, 0, 0, 0, 0];
    raw.extend_from_slice(&crc::crc32c(&raw).to_le_bytes());
    let mut enc = [0u8; 16];
    let n = cobs::encode(&raw, &mut enc).unwrap();
    wire.extend_from_slice(&enc[..n]);
    wire.push(0);
    let got = decode_chunked(&mut dec, &wire, &[4]);
    assert_eq!(
        got,
        std::vec![
            Err(FrameError::TooLong),
            Err(FrameError::BadEncoding),
            Err(FrameError::Truncated),
            Err(FrameError::UnknownKind(9)),
        ]
    );
    let s = dec.stats();
    assert_eq!(
        (
            s.too_long,
            s.bad_encoding,
            s.truncated,
            s.unknown_kind,
            s.resyncs
        ),
        (1, 1, 1, 1, 4)
    );
    assert_eq!(s.frames, 0);
}

#[test]
fn largest_frame_fits_and_one_more_byte_does_not() {
    let mut enc = Encoder::<40>::new();
    let max = [0xA5u8; Encoder::<40>::MAX_PAYLOAD];
    let mut wire = [0u8; max_wire_len(40)];
    assert!(enc.encode(FrameKind::Publish, 0, &max, &mut wire).is_ok());
    let too_big = [0xA5u8; Encoder::<40>::MAX_PAYLOAD + 1];
    assert_eq!(
        enc.encode(FrameKind::Publish, 0, &too_big, &mut wire),
        Err(EncodeError::PayloadTooLarge)
    );
    // A 41-byte encoder's largest frame is one byte too long for a 40-byte decoder.
    let mut big = Encoder::<41>::new();
    let w = encode_one(&mut big, FrameKind::Publish, 0, &[1u8; 32]);
    let mut dec = Decoder::<40>::new();
    assert_eq!(
        decode_chunked(&mut dec, &w, &[100]),
        std::vec![Err(FrameError::TooLong)]
    );
    let w = encode_one(&mut big, FrameKind::Publish, 0, &[1u8; 31]);
    assert!(decode_chunked(&mut dec, &w, &[100])[0].is_ok());
}

#[test]
fn encoder_errors() {
    let mut enc = Encoder::<32>::new();
    for cap in 0..14 {
        let mut small = std::vec![0u8; cap];
        assert_eq!(
            enc.encode_msg(FrameKind::Ack, 1, &(7u8, 300u16), &mut small),
            Err(EncodeError::BufferTooSmall),
            "capacity {cap}"
        );
    }
    assert_eq!(enc.next_seq(), 0, "a failed encode uses no sequence number");
    let mut tiny = Encoder::<4>::new();
    let mut wire = [0u8; 16];
    assert_eq!(
        tiny.encode(FrameKind::Ack, 1, &[], &mut wire),
        Err(EncodeError::PayloadTooLarge)
    );
}

#[test]
fn pseudo_random_garbage_never_panics_and_then_recovers() {
    let mut state = 0x1234_5678u32;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        state
    };
    let mut dec = Decoder::<64>::new();
    let garbage: Vec<u8> = (0..if cfg!(miri) { 2_000 } else { 20_000 })
        .map(|_| {
            let r = next();
            if r % 17 == 0 { 0 } else { r as u8 }
        })
        .collect();
    let _ = decode_chunked(&mut dec, &garbage, &[1, 3, 50, 7]);
    let mut enc = Encoder::<64>::new();
    let mut wire = std::vec![0u8]; // end whatever the garbage left open
    wire.extend(encode_one(&mut enc, FrameKind::Ack, 5, b"after"));
    let got = decode_chunked(&mut dec, &wire, &[2]);
    // The leading delimiter may end a partial garbage frame (one error), then the frame.
    assert!(got.len() <= 2);
    assert_eq!(got.last().unwrap().as_ref().unwrap().1, b"after");
    assert!(dec.stats().resyncs > 0);
}

#[test]
fn display_texts() {
    use std::string::ToString;
    assert_eq!(FrameError::Crc.to_string(), "frame CRC mismatch");
    assert_eq!(
        FrameError::UnknownKind(9).to_string(),
        "unknown frame kind 0x09"
    );
    assert_eq!(
        EncodeError::BufferTooSmall.to_string(),
        "output buffer too small for the frame"
    );
}
