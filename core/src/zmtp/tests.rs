//! Golden byte vectors (also listed in docs/zmtp.md) and decoder edge cases.

use super::*;
use std::vec::Vec;

type Dec = Decoder<512>;

const GREETING_3_1: [u8; 64] = {
    let mut g = [0u8; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 1;
    g[12] = b'N';
    g[13] = b'U';
    g[14] = b'L';
    g[15] = b'L';
    g
};

const READY_REQ: &[u8] = &[
    0x04, 0x19, 0x05, b'R', b'E', b'A', b'D', b'Y', 0x0B, b'S', b'o', b'c', b'k', b'e', b't', b'-',
    b'T', b'y', b'p', b'e', 0x00, 0x00, 0x00, 0x03, b'R', b'E', b'Q',
];

/// An owned copy of a decoded item, for comparisons across chunkings.
#[derive(Debug, PartialEq, Eq)]
enum Owned {
    Greeting(Greeting),
    Ready(Vec<(Vec<u8>, Vec<u8>)>),
    Subscribe(Vec<u8>),
    Cancel(Vec<u8>),
    Ping(u16, Vec<u8>),
    Pong(Vec<u8>),
    Error(Vec<u8>),
    Unknown(Vec<u8>),
    /// A whole frame, reassembled from its parts.
    Frame(bool, Vec<u8>),
}

/// Decodes `wire` fed in chunks of `chunk` bytes into owned items.
fn decode_all(wire: &[u8], chunk: usize) -> Result<Vec<Owned>, DecodeError> {
    let mut dec = Dec::new(Limits::default());
    let mut out = Vec::new();
    let mut body = Vec::new();
    for piece in wire.chunks(chunk.max(1)) {
        let mut input = piece;
        while !input.is_empty() {
            let (used, item) = dec.decode(input)?;
            match item {
                None => assert_eq!(used, input.len()),
                Some(Item::Greeting(g)) => out.push(Owned::Greeting(g)),
                Some(Item::Command(c)) => out.push(match c {
                    Command::Ready(p) => {
                        Owned::Ready(p.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect())
                    }
                    Command::Subscribe(t) => Owned::Subscribe(t.to_vec()),
                    Command::Cancel(t) => Owned::Cancel(t.to_vec()),
                    Command::Ping { ttl_ds, context } => Owned::Ping(ttl_ds, context.to_vec()),
                    Command::Pong(c) => Owned::Pong(c.to_vec()),
                    Command::Error(r) => Owned::Error(r.to_vec()),
                    Command::Unknown { name, .. } => Owned::Unknown(name.to_vec()),
                }),
                Some(Item::Frame(part)) => {
                    assert_eq!(part.offset, body.len() as u64);
                    body.extend_from_slice(part.data);
                    if part.is_last() {
                        out.push(Owned::Frame(part.more, core::mem::take(&mut body)));
                    }
                }
            }
            input = &input[used..];
        }
    }
    Ok(out)
}

fn handshake() -> Vec<u8> {
    let mut v = GREETING_3_1.to_vec();
    v.extend_from_slice(READY_REQ);
    v
}

#[test]
fn greeting_golden_vector() {
    let mut out = [0u8; 64];
    assert_eq!(encode_greeting(&mut out, Version::V3_1, false), Ok(64));
    assert_eq!(out, GREETING_3_1);
    let items = decode_all(&GREETING_3_1, 64).unwrap();
    let Owned::Greeting(g) = &items[0] else {
        panic!("{items:?}")
    };
    assert_eq!(g.version, Version::V3_1);
    assert!(g.is_null_mechanism() && !g.as_server);
}

#[test]
fn accepts_3_0_peers_and_reports_the_version() {
    let mut g = GREETING_3_1;
    g[11] = 0;
    g[1..9].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]); // libzmq's padding
    let items = decode_all(&g, 7).unwrap();
    assert!(
        matches!(&items[0], Owned::Greeting(g) if g.version == Version::V3_0
        && !g.version.has_3_1_commands())
    );
}

#[test]
fn ready_golden_vector() {
    let mut out = [0u8; 64];
    let n = encode_ready(&mut out, &[(b"Socket-Type", b"REQ")]).unwrap();
    assert_eq!(&out[..n], READY_REQ);
    let items = decode_all(&handshake(), 3).unwrap();
    assert_eq!(
        items[1],
        Owned::Ready(std::vec![(b"Socket-Type".to_vec(), b"REQ".to_vec())])
    );
}

#[test]
fn frame_golden_vectors() {
    let mut out = [0u8; 300];
    let n = encode_frame(&mut out, true, b"hello").unwrap();
    assert_eq!(&out[..n], &[0x01, 0x05, b'h', b'e', b'l', b'l', b'o']);
    let n = encode_frame_header(&mut out, false, 256).unwrap();
    assert_eq!(&out[..n], &[0x02, 0, 0, 0, 0, 0, 0, 0x01, 0x00]);
    let n = encode_frame_header(&mut out, false, 0).unwrap();
    assert_eq!(&out[..n], &[0x00, 0x00]);
}

#[test]
fn command_golden_vectors() {
    let mut out = [0u8; 64];
    let n = encode_subscribe(&mut out, b"A").unwrap();
    assert_eq!(&out[..n], b"\x04\x0b\x09SUBSCRIBEA");
    let n = encode_cancel(&mut out, b"A").unwrap();
    assert_eq!(&out[..n], b"\x04\x08\x06CANCELA");
    let n = encode_ping(&mut out, 10, b"ab").unwrap();
    assert_eq!(&out[..n], b"\x04\x09\x04PING\x00\x0aab");
    let n = encode_pong(&mut out, b"ab").unwrap();
    assert_eq!(&out[..n], b"\x04\x07\x04PONGab");
    let n = encode_error(&mut out, b"no").unwrap();
    assert_eq!(&out[..n], b"\x04\x09\x05ERROR\x02no");
}

#[test]
fn round_trip_under_every_chunking() {
    let mut wire = handshake();
    let mut buf = [0u8; 2048];
    let big: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let mut push = |n: usize, b: &[u8]| wire.extend_from_slice(&b[..n]);
    push(encode_subscribe(&mut buf, b"topic").unwrap(), &buf);
    push(encode_frame(&mut buf, true, b"").unwrap(), &buf);
    push(encode_frame(&mut buf, true, b"x").unwrap(), &buf);
    push(encode_frame(&mut buf, false, &big).unwrap(), &buf);
    push(encode_ping(&mut buf, 30, b"ctx").unwrap(), &buf);
    push(encode_pong(&mut buf, b"").unwrap(), &buf);
    push(encode_command(&mut buf, b"HELLO", &[b"w"]).unwrap(), &buf);
    push(encode_cancel(&mut buf, b"topic").unwrap(), &buf);
    let whole = decode_all(&wire, wire.len()).unwrap();
    assert_eq!(whole.len(), 10);
    assert_eq!(whole[5], Owned::Frame(false, big.clone()));
    assert_eq!(whole[6], Owned::Ping(30, b"ctx".to_vec()));
    assert_eq!(whole[8], Owned::Unknown(b"HELLO".to_vec()));
    for chunk in [1, 2, 3, 7, 63, 64, 65, 255, 1024] {
        assert_eq!(decode_all(&wire, chunk).unwrap(), whole, "chunk {chunk}");
    }
}

#[test]
fn skipped_body_bytes_count_as_decoded() {
    let mut wire = handshake();
    let mut buf = [0u8; 2048];
    let big: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let mut push = |n: usize, b: &[u8]| wire.extend_from_slice(&b[..n]);
    push(encode_frame(&mut buf, true, &big).unwrap(), &buf);
    push(encode_frame(&mut buf, false, b"tail").unwrap(), &buf);
    let mut dec = Dec::new(Limits::default());
    assert_eq!(
        dec.skip_body(5),
        (0, None),
        "nothing to skip before a frame"
    );
    // Handshake, then the first frame's (long) header and 10 body bytes through `decode`.
    let header_end = handshake().len() + 9;
    let mut input = &wire[..header_end + 10];
    let mut seen = 0;
    while !input.is_empty() {
        let (used, item) = dec.decode(input).unwrap();
        if let Some(Item::Frame(part)) = item {
            seen += part.data.len();
        }
        input = &input[used..];
    }
    assert_eq!(seen, 10);
    assert_eq!(dec.frame_body_left(), 990);
    assert!(dec.in_message());
    // The caller takes 500, then asks for more than is left: only the frame's rest counts.
    assert_eq!(dec.skip_body(500), (500, None));
    assert_eq!(dec.skip_body(10_000), (490, Some(true)));
    assert_eq!(dec.frame_body_left(), 0);
    // Decoding goes on at the next frame's header.
    let (used, item) = dec.decode(&wire[header_end + 1000..]).unwrap();
    assert_eq!(used, 6);
    match item {
        Some(Item::Frame(part)) => assert!(part.data == b"tail" && !part.more),
        other => panic!("expected the tail frame, got {other:?}"),
    }
    assert!(!dec.in_message());
}

#[test]
fn huge_frame_is_rejected_from_its_header() {
    let mut wire = handshake();
    wire.extend_from_slice(&[0x02, 0x80, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        decode_all(&wire, 1),
        Err(DecodeError::FrameTooLarge(1 << 63))
    );
}

#[test]
fn message_size_and_part_limits() {
    let limits = Limits {
        max_frame: 10,
        max_message: 15,
        max_parts: 3,
        max_command: 64,
    };
    let run = |frames: &[(bool, usize)]| {
        let mut wire = handshake();
        let mut buf = [0u8; 64];
        for &(more, len) in frames {
            let n = encode_frame(&mut buf, more, &[7u8; 32][..len]).unwrap();
            wire.extend_from_slice(&buf[..n]);
        }
        let mut dec: Decoder<128> = Decoder::new(limits);
        let mut input = &wire[..];
        while !input.is_empty() {
            let (used, _) = dec.decode(input)?;
            input = &input[used..];
        }
        Ok::<_, DecodeError>(())
    };
    assert_eq!(run(&[(false, 10), (false, 10)]), Ok(()));
    assert_eq!(run(&[(false, 11)]), Err(DecodeError::FrameTooLarge(11)));
    assert_eq!(
        run(&[(true, 10), (false, 6)]),
        Err(DecodeError::FrameTooLarge(16))
    );
    assert_eq!(
        run(&[(true, 1), (true, 1), (true, 1), (false, 1)]),
        Err(DecodeError::TooManyParts)
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    assert_eq!(
        decode_all(b"GET / HTTP/1.1\r\n", 4),
        Err(DecodeError::BadSignature)
    );
    let mut v2 = GREETING_3_1;
    v2[10] = 1;
    assert_eq!(decode_all(&v2, 64), Err(DecodeError::UnsupportedVersion(1)));
    let mut wire = GREETING_3_1.to_vec();
    wire.extend_from_slice(&[0x00, 0x01, b'x']);
    assert_eq!(decode_all(&wire, 64), Err(DecodeError::MessageBeforeReady));
    let mut wire = handshake();
    wire.push(0x08);
    assert_eq!(decode_all(&wire, 64), Err(DecodeError::BadFlags(0x08)));
    let mut wire = handshake();
    wire.extend_from_slice(&[0x05, 0x00]);
    assert_eq!(decode_all(&wire, 64), Err(DecodeError::BadFlags(0x05)));
    // READY whose property value length overruns the body.
    let mut wire = GREETING_3_1.to_vec();
    wire.extend_from_slice(b"\x04\x0c\x05READY\x01A\x00\x00\x00\x09");
    assert_eq!(decode_all(&wire, 5), Err(DecodeError::BadCommand));
    // A command bigger than the decoder's buffer.
    let mut wire = handshake();
    wire.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 0, 0x10, 0]);
    assert_eq!(
        decode_all(&wire, 64),
        Err(DecodeError::CommandTooLarge(4096))
    );
    // A command in the middle of a multipart message.
    let mut wire = handshake();
    wire.extend_from_slice(&[0x01, 0x00, 0x04, 0x01, 0x00]);
    assert_eq!(
        decode_all(&wire, 64),
        Err(DecodeError::CommandInsideMessage)
    );
}

#[test]
fn decoder_stays_failed() {
    let mut dec = Dec::new(Limits::default());
    assert!(dec.decode(b"\x00").is_err());
    assert_eq!(
        dec.decode(&GREETING_3_1).map(|r| r.0),
        Err(DecodeError::BadSignature)
    );
}

#[test]
fn properties_lookup_is_case_insensitive() {
    let mut out = [0u8; 128];
    let n = encode_ready(&mut out, &[(b"Socket-Type", b"ROUTER"), (b"Identity", b"")]).unwrap();
    let body = &out[2..n];
    let Some(Command::Ready(p)) = Command::parse(body) else {
        panic!()
    };
    assert_eq!(p.get(b"socket-type"), Some(&b"ROUTER"[..]));
    assert_eq!(p.identity(), Some(&b""[..]));
    assert_eq!(p.iter().count(), 2);
}

#[test]
fn encoder_refuses_small_buffers() {
    let mut small = [0u8; 8];
    assert_eq!(
        encode_frame(&mut small, false, b"0123456789"),
        Err(EncodeError::BufferTooSmall)
    );
    assert_eq!(
        encode_greeting(&mut small, Version::V3_1, false),
        Err(EncodeError::BufferTooSmall)
    );
    assert_eq!(
        encode_ping(&mut [0u8; 64], 1, &[0; 17]),
        Err(EncodeError::FieldTooLong)
    );
}

#[test]
fn a_whole_message_is_checked_as_the_decoder_checks_its_frames() {
    let limits = Limits {
        max_frame: 10,
        max_message: 15,
        max_parts: 3,
        ..Limits::default()
    };
    assert_eq!(limits.check_message([10, 5]), Ok(()));
    assert_eq!(limits.check_message([]), Ok(()));
    assert_eq!(
        limits.check_message([11]),
        Err(DecodeError::FrameTooLarge(11))
    );
    assert_eq!(
        limits.check_message([10, 6]),
        Err(DecodeError::FrameTooLarge(16))
    );
    assert_eq!(
        limits.check_message([1, 1, 1, 1]),
        Err(DecodeError::TooManyParts)
    );
    // The decoder refuses the same messages.
    for (frames, ok) in [
        (&[10u64, 5][..], true),
        (&[10, 6], false),
        (&[1, 1, 1, 1], false),
    ] {
        let mut wire = handshake();
        for (i, &len) in frames.iter().enumerate() {
            let mut h = [0u8; 9];
            let n = encode_frame_header(&mut h, i + 1 < frames.len(), len).unwrap();
            wire.extend_from_slice(&h[..n]);
            wire.extend(core::iter::repeat_n(7u8, len as usize));
        }
        let mut d = Dec::new(limits);
        let mut input = &wire[..];
        let mut failed = false;
        while !input.is_empty() {
            match d.decode(input) {
                Ok((used, _)) => input = &input[used..],
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        assert_eq!(!failed, ok, "{frames:?}");
    }
}
