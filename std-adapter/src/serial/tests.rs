//! Bridge tests: in-memory streams with line noise, a real pty in raw mode, run_bridge over TCP.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use ringwire_core::serial::{Decoder, Encoder, max_wire_len};

use super::*;
use crate::error::Error;

/// A stream whose reads return what the test queued, `chunk` bytes at a time, and
/// `WouldBlock` when nothing is queued; writes are collected.
struct Mem {
    input: VecDeque<u8>,
    output: Vec<u8>,
    chunk: usize,
}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.chunk).min(self.input.len());
        for b in buf.iter_mut().take(n) {
            *b = self.input.pop_front().unwrap_or(0);
        }
        Ok(n)
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn frame(enc: &mut Encoder<64>, topic: u16, payload: &[u8]) -> Vec<u8> {
    let mut w = [0u8; max_wire_len(64)];
    let n = enc
        .encode(FrameKind::Publish, topic, payload, &mut w)
        .unwrap();
    w[..n].to_vec()
}

fn drain<S: Read + Write>(bridge: &mut Bridge<S>) -> Vec<(u16, u16, Vec<u8>)> {
    let mut got = Vec::new();
    // Mem answers WouldBlock once drained, so extra polls deliver nothing more.
    for _ in 0..1000 {
        bridge
            .poll(&mut |f: &Frame<'_>| {
                got.push((f.header.topic, f.header.seq, f.payload.to_vec()));
                Ok(())
            })
            .unwrap();
    }
    got
}

#[test]
fn frames_survive_noise_between_and_inside_and_stats_count_it() {
    let mut fw = Encoder::<64>::new(); // the firmware's encoder, without leading delimiters
    let mut line = Vec::new();
    line.extend(frame(&mut fw, 1, b"first"));
    line.extend([0x33, 0x44, 0x55]); // noise between frames: merges with frame 2
    line.extend(frame(&mut fw, 2, b"second"));
    line.extend(frame(&mut fw, 3, b"third"));
    let mut damaged = frame(&mut fw, 4, b"fourth");
    // Noise inside a frame: a flipped bit in the payload, COBS structure intact.
    let at = damaged.iter().position(|&b| b == b'f').unwrap();
    damaged[at] ^= 0x01;
    line.extend(damaged);
    line.extend(frame(&mut fw, 5, b"fifth"));
    let mut bridge = Bridge::new(Mem {
        input: line.into(),
        output: Vec::new(),
        chunk: 5,
    });
    let got = drain(&mut bridge);
    let topics: Vec<u16> = got.iter().map(|g| g.0).collect();
    assert_eq!(topics, vec![1, 3, 5]);
    assert_eq!(got[2].2, b"fifth");
    let s = bridge.stats();
    assert_eq!(s.frames_in(), 3);
    assert_eq!(s.resyncs(), 2);
    assert_eq!(s.crc_errors(), 1);
    assert_eq!(
        s.rx.bad_encoding, 1,
        "the noise before frame 2 broke its COBS runs"
    );
    assert_eq!(s.lost(), 2, "seq 1 and 3 never arrived");
    assert_eq!(s.rx.seq.gaps, 2);
}

#[test]
fn sent_commands_decode_on_the_other_side() {
    let mut bridge = Bridge::new(Mem {
        input: VecDeque::new(),
        output: Vec::new(),
        chunk: 64,
    });
    assert_eq!(bridge.command(0x11, &(42u32,)).unwrap(), 0);
    bridge.write_raw(&[0xDE, 0xAD]).unwrap(); // noise the leading delimiter will end
    assert_eq!(bridge.command(0x12, &true).unwrap(), 1);
    let wire = bridge.get_ref().output.clone();
    assert_eq!(wire[0], 0, "frames start with a delimiter");
    let mut dec = Decoder::<64>::new();
    let mut got = Vec::new();
    let mut input = &wire[..];
    while !input.is_empty() {
        let (used, ev) = dec.feed(input);
        input = &input[used..];
        if let Some(Ok(f)) = ev {
            got.push((
                f.header.kind,
                f.header.topic,
                f.header.seq,
                f.payload.to_vec(),
            ));
        }
    }
    assert_eq!(
        got,
        vec![
            (FrameKind::Command, 0x11, 0, vec![42]),
            (FrameKind::Command, 0x12, 1, vec![1]),
        ]
    );
    assert_eq!(dec.stats().resyncs, 1);
    let s = bridge.stats();
    assert_eq!(s.frames_out, 2);
    assert_eq!(s.bytes_out, wire.len() as u64);
}

#[test]
fn too_large_payload_is_an_error_and_sink_errors_are_counted() {
    let mut bridge = Bridge::new(Mem {
        input: VecDeque::new(),
        output: Vec::new(),
        chunk: 64,
    });
    let big = vec![1u8; MAX_FRAME];
    assert!(matches!(
        bridge.send(FrameKind::Command, 1, &big),
        Err(Error::TooLarge { .. })
    ));
    let mut fw = Encoder::<64>::new();
    let mut line = frame(&mut fw, 1, b"a");
    line.extend(frame(&mut fw, 2, b"b"));
    bridge.get_mut().input.extend(line);
    let mut seen = 0;
    let r = bridge.poll(&mut |_: &Frame<'_>| {
        seen += 1;
        Err(Error::State("sink refuses"))
    });
    assert!(matches!(r, Err(Error::State("sink refuses"))));
    assert_eq!(seen, 2, "the frame after a failing one is still delivered");
    assert_eq!(bridge.stats().sink_errors, 2);
}

#[test]
fn end_of_stream_is_disconnected() {
    let mut bridge = Bridge::new(io::Cursor::new(Vec::new()));
    assert!(matches!(
        bridge.poll(&mut |_: &Frame<'_>| Ok(())),
        Err(Error::Disconnected)
    ));
}

/// A real pseudo-terminal: `open_link` must switch it to raw mode, or the line discipline
/// would rewrite CR/LF, eat XON/XOFF and ^C, and echo bytes back.
#[test]
fn pty_link_is_raw() {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let slave_path = ptsname(&master, Vec::new()).unwrap();
    let link = open_link(slave_path.to_str().unwrap(), Some(115_200)).unwrap();
    assert!(matches!(link, Link::Tty(_)));
    let mut master = std::fs::File::from(master);
    let mut bridge = Bridge::new(link);

    // Bytes a cooked terminal would mangle: CR, LF, ^C, ^S, ^Q, DEL, ^D.
    let tricky = [b'\r', b'\n', 0x03, 0x13, 0x11, 0x7F, 0x04, b'\r'];
    let mut fw = Encoder::<64>::new();
    master.write_all(&frame(&mut fw, 9, &tricky)).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.is_empty() && Instant::now() < deadline {
        bridge
            .poll(&mut |f: &Frame<'_>| {
                got.push(f.payload.to_vec());
                Ok(())
            })
            .unwrap();
    }
    assert_eq!(got, vec![tricky.to_vec()]);

    bridge.send(FrameKind::Command, 3, &tricky).unwrap();
    let expected = {
        let mut e = Encoder::<MAX_FRAME>::new();
        e.set_leading_delimiter(true);
        let mut w = vec![0u8; max_wire_len(MAX_FRAME)];
        let n = e.encode(FrameKind::Command, 3, &tricky, &mut w).unwrap();
        w.truncate(n);
        w
    };
    let mut back = vec![0u8; expected.len()];
    master.read_exact(&mut back).unwrap();
    assert_eq!(
        back, expected,
        "the master sees exactly the frame, with no echo of input"
    );
}

#[test]
fn run_bridge_over_tcp_forwards_both_ways_until_stopped() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // The "firmware": publishes three frames, then waits for one command and echoes its
    // payload back as an Ack, then holds the connection until the bridge stops.
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let fw = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut enc = Encoder::<64>::new();
        for t in 1..=3u16 {
            s.write_all(&frame(&mut enc, t, &[t as u8])).unwrap();
        }
        let mut dec = Decoder::<MAX_FRAME>::new();
        let mut buf = [0u8; 256];
        let mut cmd = None;
        while cmd.is_none() {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "bridge closed early");
            let mut input = &buf[..n];
            while !input.is_empty() {
                let (used, ev) = dec.feed(input);
                input = &input[used..];
                if let Some(Ok(f)) = ev {
                    cmd = Some((f.header.topic, f.payload.to_vec()));
                }
            }
        }
        let (topic, payload) = cmd.unwrap();
        let mut w = [0u8; max_wire_len(64)];
        let n = enc.encode(FrameKind::Ack, topic, &payload, &mut w).unwrap();
        s.write_all(&w[..n]).unwrap();
        // Keep the link open until the bridge has stopped (watchdog: 20 s).
        let _ = done_rx.recv_timeout(Duration::from_secs(20));
    });

    let (tx, mut rx) = mpsc::channel();
    tx.send(Outgoing {
        kind: FrameKind::Command,
        topic: 0x11,
        payload: vec![5, 6, 7],
    })
    .unwrap();
    let (seen_tx, seen_rx) = mpsc::channel();
    let bridge_stop = Arc::clone(&stop);
    let runner = thread::spawn(move || {
        let mut sink = |f: &Frame<'_>| {
            seen_tx
                .send((f.header.kind, f.header.topic, f.payload.to_vec()))
                .map_err(|_| Error::Disconnected)
        };
        run_bridge(
            &format!("tcp://{addr}"),
            None,
            &mut sink,
            &mut rx,
            &bridge_stop,
        )
    });
    let mut seen = Vec::new();
    while seen.len() < 4 {
        seen.push(
            seen_rx
                .recv_timeout(Duration::from_secs(20))
                .expect("watchdog: frames did not arrive"),
        );
    }
    stop.store(true, Ordering::Relaxed);
    let stats = runner.join().unwrap().unwrap();
    done_tx.send(()).unwrap();
    fw.join().unwrap();
    assert_eq!(
        &seen[..3],
        &[
            (FrameKind::Publish, 1, vec![1]),
            (FrameKind::Publish, 2, vec![2]),
            (FrameKind::Publish, 3, vec![3]),
        ]
    );
    assert_eq!(seen[3], (FrameKind::Ack, 0x11, vec![5, 6, 7]));
    assert_eq!(stats.frames_in(), 4);
    assert_eq!(stats.frames_out, 1);
    assert_eq!(stats.resyncs(), 0);
}

#[test]
fn print_sink_writes_one_line_per_frame() {
    let mut out = Vec::new();
    let mut sink = PrintSink(&mut out);
    let f = Frame {
        header: Header {
            kind: FrameKind::Publish,
            topic: 1,
            seq: 42,
        },
        payload: &[0x0a, 0x0b, 0x0c],
    };
    sink.on_frame(&f).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "publish topic=1 seq=42 len=3 payload=0a0b0c\n"
    );
}

fn unique(tag: &str) -> String {
    use std::sync::atomic::AtomicUsize;
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    format!(
        "rw-serial-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn publish_frame(topic: u16, payload: &[u8]) -> Frame<'_> {
    Frame {
        header: Header {
            kind: FrameKind::Publish,
            topic,
            seq: 0,
        },
        payload,
    }
}

#[test]
fn pub_sink_republishes_on_tcp_and_shm() {
    // tcp: a ZMTP subscriber gets [serial/7, payload].
    let mut sink = PubSink::bind("tcp://127.0.0.1:0", "serial/").unwrap();
    let mut sub = crate::zmtp::Sub::connect(&sink.endpoint()).unwrap();
    sub.subscribe(b"serial/7").unwrap();
    // Both sockets progress only when called, in this one thread: alternate sends and receives.
    let deadline = Instant::now() + Duration::from_secs(20);
    let got = loop {
        // A PUB drops what no subscription asked for yet: resend until the subscription is in.
        sink.on_frame(&publish_frame(7, &[1, 2, 3])).unwrap();
        sink.on_frame(&publish_frame(8, &[9])).unwrap();
        if let Ok(m) = sub.recv_multipart_timeout(Duration::from_millis(50)) {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "watchdog: nothing arrived over tcp"
        );
    };
    assert_eq!(got.frames(), &[b"serial/7".to_vec(), vec![1, 2, 3]]);
    assert_eq!(sink.topic_name(FrameKind::Ack, 17), "serial/ack/17");

    // shm: a subscriber attached before the publish gets the same two parts.
    let ep = format!("shm://{}", unique("pub"));
    let mut sink = PubSink::bind(&ep, "fw/").unwrap();
    let mut sub = crate::shm::Subscriber::connect(&ep).unwrap();
    sub.subscribe(b"fw/").unwrap();
    sink.on_frame(&publish_frame(2, &[4, 5])).unwrap();
    let m = sub.recv_multipart_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(m.frames(), &[b"fw/2".to_vec(), vec![4, 5]]);
}

#[test]
fn bridge_to_endpoint_republishes_frames_and_forwards_commands() {
    let fw_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let fw_addr = fw_listener.local_addr().unwrap();
    let to_sock = std::env::temp_dir().join(format!("{}.sock", unique("to")));
    let cmd_sock = std::env::temp_dir().join(format!("{}.sock", unique("cmd")));
    let to = format!("ipc://{}", to_sock.display());
    let cmd_ep = format!("ipc://{}", cmd_sock.display());
    let stop = Arc::new(AtomicBool::new(false));

    // The "firmware": a Publish frame on topic 1 every 20 ms; reports the first command frame
    // it decodes; keeps the link open until the bridge has stopped (watchdog 30 s each).
    let (cmd_tx, cmd_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let fw = thread::spawn(move || {
        let (mut s, _) = fw_listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        let mut enc = Encoder::<64>::new();
        let mut dec = Decoder::<MAX_FRAME>::new();
        let mut buf = [0u8; 256];
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut n = 0u8;
        let mut reported = false;
        while !reported && Instant::now() < deadline {
            s.write_all(&frame(&mut enc, 1, &[n])).unwrap();
            n = n.wrapping_add(1);
            let got = match s.read(&mut buf) {
                Ok(0) => break,
                Ok(got) => got,
                Err(_) => continue, // read timeout: publish again
            };
            let mut input = &buf[..got];
            while !input.is_empty() {
                let (used, ev) = dec.feed(input);
                input = &input[used..];
                if let Some(Ok(f)) = ev
                    && !reported
                {
                    reported = true;
                    let _ = cmd_tx.send((f.header.kind, f.header.topic, f.payload.to_vec()));
                }
            }
        }
        let _ = done_rx.recv_timeout(Duration::from_secs(30));
    });

    // The command publisher binds first; the bridge's subscriber connects to it.
    let mut commands = crate::Publisher::bind(&cmd_ep).unwrap();
    let bridge_stop = Arc::clone(&stop);
    let (to2, cmd2) = (to.clone(), cmd_ep.clone());
    let bridge = thread::spawn(move || {
        bridge_to_endpoint(
            &format!("tcp://{fw_addr}"),
            None,
            &to2,
            Some(&cmd2),
            &bridge_stop,
        )
    });
    // The bridge's publisher binds once its thread runs; connect retries until then.
    let mut sub = crate::zmtp::Sub::connect(&to).unwrap();
    sub.subscribe(b"serial/1").unwrap();
    let m = sub
        .recv_multipart_timeout(Duration::from_secs(30))
        .expect("watchdog: no republished frame");
    assert_eq!(m.frames()[0], b"serial/1");
    assert_eq!(m.frames()[1].len(), 1);

    // A PUB drops messages until the subscription is in: publish until the firmware saw one.
    let deadline = Instant::now() + Duration::from_secs(30);
    let cmd = loop {
        commands
            .send_multipart(&[b"serial/cmd/17", &[5, 6]])
            .unwrap();
        commands
            .send_multipart(&[b"serial/cmd/oops", &[1]])
            .unwrap();
        if let Ok(c) = cmd_rx.recv_timeout(Duration::from_millis(50)) {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "watchdog: command never reached the firmware"
        );
    };
    assert_eq!(cmd, (FrameKind::Command, 17, vec![5, 6]));

    stop.store(true, Ordering::Relaxed);
    let stats = bridge.join().unwrap().unwrap();
    done_tx.send(()).unwrap();
    fw.join().unwrap();
    assert!(stats.frames_in() >= 1);
    assert!(stats.frames_out >= 1);
    assert_eq!(stats.resyncs(), 0);
    let _ = std::fs::remove_file(&to_sock);
    let _ = std::fs::remove_file(&cmd_sock);
}
