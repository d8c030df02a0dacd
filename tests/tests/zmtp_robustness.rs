//! Bad input against live ZMTP sockets: garbage, wrong greetings, a 2^63-byte frame,
//! a half greeting then silence, idle peers, a thousand connections at once — each is
//! cut off and counted while well-behaved peers are served. Also reconnection after a
//! peer restarts, `ipc://` socket-file handling, ZMTP 3.0 subscription messages and
//! heartbeats, all against raw byte streams written with `ringwire_core::zmtp`.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::thread;
use std::time::Duration;

use ringwire::zmtp::{Pub, Rep, Req, SocketEvent, Sub};
use ringwire::{Endpoint, Error};
use ringwire_core::zmtp::{self, Version};
use ringwire_tests::{unique_ipc, watchdog};

const T: Duration = Duration::from_secs(5);

fn tcp_addr(ep: &Endpoint) -> String {
    match ep {
        Endpoint::Tcp { host, port } => format!("{host}:{port}"),
        other => panic!("not tcp: {other}"),
    }
}

/// A raw peer's handshake: greeting (with `minor`) and READY with `socket_type`.
fn handshake(minor: u8, socket_type: &str) -> Vec<u8> {
    let mut buf = [0u8; 128];
    let mut n = zmtp::encode_greeting(&mut buf, Version { major: 3, minor }, false).unwrap();
    n += zmtp::encode_ready(&mut buf[n..], &[(b"Socket-Type", socket_type.as_bytes())]).unwrap();
    buf[..n].to_vec()
}

fn frame(more: bool, body: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; body.len() + 9];
    let n = zmtp::encode_frame(&mut buf, more, body).unwrap();
    buf.truncate(n);
    buf
}

/// Reads until the peer closes the stream (returns what was read).
fn read_to_close(s: &mut impl Read) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

/// A REQ in its own thread that keeps asking until it gets an answer.
fn ask_until_answered(ep: String) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut req = Req::connect(&ep).unwrap();
        loop {
            match req.request::<_, String>(&"hello", Duration::from_millis(500)) {
                Ok(a) => return a,
                Err(Error::Timeout | Error::Disconnected) => continue,
                Err(e) => panic!("{e}"),
            }
        }
    })
}

/// Serves requests on `rep` (upper-casing them) until `done` holds.
fn serve_until(rep: &mut Rep, done: impl Fn(&Rep) -> bool) -> usize {
    let mut served = 0;
    while !done(rep) {
        match rep.recv_timeout::<String>(Duration::from_millis(50)) {
            Ok(q) => {
                rep.send(&q.to_uppercase()).unwrap();
                served += 1;
            }
            Err(Error::Timeout) => {}
            Err(e) => panic!("{e}"),
        }
    }
    served
}

#[test]
fn bad_peers_are_cut_off_and_counted_while_good_ones_are_served() {
    let _watchdog = watchdog(60);
    let mut rep = Rep::builder()
        .handshake_timeout(Duration::from_millis(300))
        .bind("tcp://127.0.0.1:0")
        .unwrap();
    let events = rep.monitor();
    let ep = rep.bound_endpoints()[0].clone();
    let addr = tcp_addr(&ep);

    let mut garbage = TcpStream::connect(&addr).unwrap();
    garbage
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();

    let mut old_version = TcpStream::connect(&addr).unwrap();
    let mut g = handshake(1, "REQ");
    g[10] = 2; // ZMTP 2.0
    old_version.write_all(&g).unwrap();

    let mut huge = TcpStream::connect(&addr).unwrap();
    let mut h = handshake(1, "REQ");
    h.extend_from_slice(&[0x02, 0x80, 0, 0, 0, 0, 0, 0, 0]); // announces 2^63 bytes
    huge.write_all(&h).unwrap();

    let mut wrong_type = TcpStream::connect(&addr).unwrap();
    wrong_type.write_all(&handshake(1, "PUB")).unwrap();

    let mut half = TcpStream::connect(&addr).unwrap();
    half.write_all(&handshake(1, "REQ")[..30]).unwrap();

    let good = ask_until_answered(ep.to_string());
    serve_until(&mut rep, |r| {
        let s = r.stats();
        s.protocol_errors >= 4 && s.handshake_timeouts >= 1
    });
    assert_eq!(good.join().unwrap(), "HELLO");
    for s in [
        &mut garbage,
        &mut old_version,
        &mut huge,
        &mut wrong_type,
        &mut half,
    ] {
        s.set_read_timeout(Some(T)).unwrap();
        read_to_close(s);
    }
    // Four fail their handshake; the huge frame follows a valid one, so it disconnects.
    let (mut failed, mut dropped) = (0, 0);
    for e in events.try_iter() {
        match e {
            SocketEvent::HandshakeFailed { .. } => failed += 1,
            SocketEvent::Disconnected { .. } => dropped += 1,
            _ => {}
        }
    }
    assert!(
        failed >= 4 && dropped >= 1,
        "{failed} handshake failures, {dropped} drops"
    );
}

#[test]
fn a_thousand_connections_at_once() {
    let _watchdog = watchdog(120);
    let mut rep = Rep::builder()
        .max_connections(50)
        .handshake_timeout(Duration::from_millis(500))
        .bind("tcp://127.0.0.1:0")
        .unwrap();
    let ep = rep.bound_endpoints()[0].clone();
    let addr = tcp_addr(&ep);
    let flood = thread::spawn(move || {
        (0..1000)
            .filter_map(|_| TcpStream::connect(&addr).ok())
            .collect::<Vec<_>>()
    });
    let streams = flood.join().unwrap();
    assert_eq!(streams.len(), 1000);
    let good = ask_until_answered(ep.to_string());
    serve_until(&mut rep, |r| {
        r.stats().accepted >= 1001 && good.is_finished()
    });
    assert_eq!(good.join().unwrap(), "HELLO");
    let s = rep.stats();
    // Over the limit a connection is closed at once; under it, idle ones time out.
    assert!(s.rejected_connections > 0, "{s:?}");
    assert!(
        s.rejected_connections + s.handshake_timeouts >= 950,
        "{s:?}"
    );
    assert!(rep.connection_count() <= 50);
}

#[test]
fn idle_peers_time_out() {
    let _watchdog = watchdog(60);
    let mut rep = Rep::builder()
        .idle_timeout(Duration::from_millis(200))
        .bind("tcp://127.0.0.1:0")
        .unwrap();
    let addr = tcp_addr(&rep.bound_endpoints()[0]);
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(&handshake(1, "REQ")).unwrap();
    serve_until(&mut rep, |r| r.stats().idle_timeouts >= 1);
    idle.set_read_timeout(Some(T)).unwrap();
    let got = read_to_close(&mut idle);
    assert_eq!(&got[..2], &[0xFF, 0]); // our greeting came first
}

#[test]
fn heartbeats_answer_pings_and_drop_silent_peers() {
    let _watchdog = watchdog(60);
    let mut rep = Rep::builder()
        .heartbeat(Duration::from_millis(50), Duration::from_millis(300))
        .bind("tcp://127.0.0.1:0")
        .unwrap();
    let addr = tcp_addr(&rep.bound_endpoints()[0]);
    let mut peer = TcpStream::connect(&addr).unwrap();
    let mut out = handshake(1, "REQ");
    let mut ping = [0u8; 32];
    let n = zmtp::encode_ping(&mut ping, 0, b"ctx").unwrap();
    out.extend_from_slice(&ping[..n]);
    peer.write_all(&out).unwrap();
    serve_until(&mut rep, |r| r.stats().idle_timeouts >= 1);
    peer.set_read_timeout(Some(T)).unwrap();
    let got = read_to_close(&mut peer);
    let mut pong = [0u8; 32];
    let n = zmtp::encode_pong(&mut pong, b"ctx").unwrap();
    assert!(
        got.windows(n).any(|w| w == &pong[..n]),
        "no PONG in {got:?}"
    );
    assert!(
        got.windows(5).any(|w| w == b"\x04PING"),
        "no PING sent in {got:?}"
    );
}

#[test]
fn req_reconnects_after_rep_restarts() {
    let _watchdog = watchdog(60);
    let ep = unique_ipc("restart");
    let mut req = Req::builder()
        .reconnect(Duration::from_millis(20), Duration::from_millis(200))
        .connect(&ep)
        .unwrap();
    for round in 0..2 {
        let mut rep = Rep::bind(&ep).unwrap();
        let server = thread::spawn(move || {
            let q: String = rep.recv_timeout(T).unwrap();
            rep.send(&format!("{q}-{round}")).unwrap();
            rep.flush().unwrap();
            thread::sleep(Duration::from_millis(50));
        });
        let answer = loop {
            match req.request::<_, String>(&"q", Duration::from_millis(500)) {
                Ok(a) => break a,
                Err(Error::Timeout | Error::Disconnected) => continue,
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(answer, format!("q-{round}"));
        server.join().unwrap();
    }
}

#[test]
fn subscriptions_are_resent_after_the_publisher_restarts() {
    let _watchdog = watchdog(60);
    let ep = unique_ipc("resub");
    let mut sub = Sub::builder()
        .reconnect(Duration::from_millis(20), Duration::from_millis(200))
        .connect(&ep)
        .unwrap();
    sub.subscribe(b"t").unwrap();
    for round in 0..2u32 {
        let mut publisher = Pub::bind(&ep).unwrap();
        let got: u32 = loop {
            publisher.send_on("t", &round).unwrap();
            match sub.recv_timeout::<u32>(Duration::from_millis(20)) {
                Ok(v) => break v,
                Err(Error::Timeout) => continue,
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(got, round);
    }
}

#[test]
fn ipc_socket_files_stale_live_and_removed() {
    let _watchdog = watchdog(60);
    let ep = unique_ipc("stale");
    let path = ep.strip_prefix("ipc://").unwrap().to_string();
    // A stale file: a listener that went away without removing it.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(std::path::Path::new(&path).exists());
    let rep = Rep::bind(&ep).unwrap();
    // A live one is refused.
    assert!(matches!(Rep::bind(&ep), Err(Error::Io(_))));
    drop(rep);
    assert!(!std::path::Path::new(&path).exists());
}

#[test]
fn ipc_bind_never_removes_what_is_not_its_socket() {
    use std::os::unix::fs::FileTypeExt;
    let _watchdog = watchdog(60);
    // A regular file at the path survives, and the bind fails with a clear error.
    let ep = unique_ipc("file");
    let path = ep.strip_prefix("ipc://").unwrap().to_string();
    std::fs::write(&path, b"data\n").unwrap();
    match Rep::bind(&ep) {
        Err(Error::Io(e)) => {
            assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists, "{e}");
            assert!(e.to_string().contains("not a socket"), "{e}");
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("bound over a regular file"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"data\n");
    std::fs::remove_file(&path).unwrap();
    // A directory too.
    std::fs::create_dir(&path).unwrap();
    assert!(matches!(Rep::bind(&ep), Err(Error::Io(_))));
    assert!(std::path::Path::new(&path).is_dir());
    std::fs::remove_dir(&path).unwrap();
    // A listener whose socket file was replaced by someone else leaves the new file.
    let rep = Rep::bind(&ep).unwrap();
    std::fs::remove_file(&path).unwrap();
    let other = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(rep);
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(
        meta.file_type().is_socket(),
        "the other listener's socket was removed"
    );
    drop(other);
    std::fs::remove_file(&path).unwrap();
    // Likewise when a regular file took its place.
    let rep = Rep::bind(&ep).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"mine").unwrap();
    drop(rep);
    assert_eq!(std::fs::read(&path).unwrap(), b"mine");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn zmtp_3_0_subscribers_and_publishers_use_subscription_messages() {
    let _watchdog = watchdog(60);
    // A 3.0 subscriber subscribes with a `\x01prefix` message.
    let ep = unique_ipc("v30sub");
    let mut publisher = Pub::bind(&ep).unwrap();
    let path = ep.strip_prefix("ipc://").unwrap().to_string();
    let mut old_sub = UnixStream::connect(&path).unwrap();
    let mut out = handshake(0, "SUB");
    out.extend_from_slice(&frame(false, b"\x01pose"));
    old_sub.write_all(&out).unwrap();
    old_sub
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let want = [frame(true, b"pose"), frame(false, b"42")].concat();
    let mut got = Vec::new();
    while !got.windows(want.len()).any(|w| w == want) {
        publisher.send_multipart(&[b"other", b"no"]).unwrap();
        publisher.send_multipart(&[b"pose", b"42"]).unwrap();
        let mut buf = [0u8; 4096];
        if let Ok(n) = old_sub.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert!(
        !got.windows(5).any(|w| w == b"other"),
        "unsubscribed topic delivered"
    );

    // A 3.0 publisher receives our subscription as a message, not a command.
    let ep = unique_ipc("v30pub");
    let path = ep.strip_prefix("ipc://").unwrap().to_string();
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut sub = Sub::connect(&ep).unwrap();
    sub.subscribe(b"abc").unwrap();
    let (mut old_pub, _) = listener.accept().unwrap();
    old_pub.write_all(&handshake(0, "PUB")).unwrap();
    old_pub
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let want = frame(false, b"\x01abc");
    let mut got = Vec::new();
    while !got.windows(want.len()).any(|w| w == want) {
        let _ = sub.try_recv_bytes();
        let mut buf = [0u8; 4096];
        if let Ok(n) = old_pub.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    assert!(!got.windows(9).any(|w| w == b"SUBSCRIBE"));
    old_pub
        .write_all(&[frame(true, b"abcd"), frame(false, b"v")].concat())
        .unwrap();
    let m = sub.recv_multipart_timeout(T).unwrap();
    assert_eq!(m.frames(), &[b"abcd".to_vec(), b"v".to_vec()]);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn pub_drops_and_counts_at_the_high_water_mark() {
    let _watchdog = watchdog(60);
    let ep = unique_ipc("hwm");
    let mut publisher = Pub::builder().send_hwm(4).bind(&ep).unwrap();
    let mut sub = Sub::connect(&ep).unwrap();
    sub.subscribe(b"").unwrap();
    loop {
        publisher.send_bytes(b"probe").unwrap();
        if sub.recv_bytes_timeout(Duration::from_millis(20)).is_ok() {
            break;
        }
    }
    // The subscriber stops reading; 64 KiB messages soon fill the kernel buffers.
    let big = vec![7u8; 64 * 1024];
    let mut sent = 0;
    while publisher.stats().dropped_hwm == 0 {
        publisher.send_bytes(&big).unwrap();
        sent += 1;
    }
    assert!(sent > 4);
}

#[test]
fn recv_into_takes_the_body_into_the_callers_buffer() {
    let _watchdog = watchdog(60);
    let mut rep = Rep::bind("tcp://127.0.0.1:0").unwrap();
    let ep = rep.bound_endpoints()[0].to_string();
    let mut req = Req::connect(&ep).unwrap();
    let mut buf = [0u8; 64];
    for round in 0..3u8 {
        req.send_bytes(&[b'q', round]).unwrap();
        let n = rep.recv_into_timeout(&mut buf, T).unwrap();
        assert_eq!(&buf[..n], &[b'q', round]);
        rep.send_bytes(&[b'a', round, 0, 0]).unwrap();
        let n = req.recv_into_timeout(&mut buf, T).unwrap();
        assert_eq!(&buf[..n], &[b'a', round, 0, 0]);
    }
    // Too small a buffer: an error, and the message stays for a larger one.
    req.send_bytes(&[5u8; 40]).unwrap();
    let mut small = [0u8; 8];
    let err = rep.recv_into_timeout(&mut small, T).unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { size: 40, limit: 8 }),
        "{err}"
    );
    assert_eq!(rep.recv_into_timeout(&mut buf, T).unwrap(), 40);
    rep.send_bytes(b"ok").unwrap();
    assert_eq!(req.recv_bytes_timeout(T).unwrap(), b"ok");
    // Subscribers too, and `try_recv_into` when nothing is there.
    let mut publisher = Pub::bind("tcp://127.0.0.1:0").unwrap();
    let mut sub = Sub::connect(&publisher.bound_endpoints()[0].to_string()).unwrap();
    sub.subscribe(b"t").unwrap();
    publisher.wait_for_subscribers(1, T).unwrap();
    assert!(matches!(
        sub.try_recv_into(&mut buf),
        Err(Error::WouldBlock)
    ));
    publisher.send_multipart(&[b"t", b"body"]).unwrap();
    let n = sub.recv_into_timeout(&mut buf, T).unwrap();
    assert_eq!(&buf[..n], b"body");
}

#[test]
fn send_hwm_zero_means_no_limit() {
    use ringwire::zmtp::{Pull, Push};
    let _watchdog = watchdog(60);
    let mut push = Push::builder()
        .send_hwm(0)
        .send_timeout(T)
        .bind("tcp://127.0.0.1:0")
        .unwrap();
    let ep = push.bound_endpoints()[0].to_string();
    let mut pull = Pull::builder().recv_hwm(10).connect(&ep).unwrap();
    push.wait_for_peers(1, T).unwrap();
    // Far more than the default HWM (1000) while the puller reads nothing.
    for i in 0..5000u32 {
        push.send_bytes(&i.to_be_bytes()).unwrap();
    }
    let mut publisher = Pub::builder()
        .send_hwm(0)
        .bind("tcp://127.0.0.1:0")
        .unwrap();
    let mut sub = Sub::builder()
        .recv_hwm(10)
        .connect(&publisher.bound_endpoints()[0].to_string())
        .unwrap();
    sub.subscribe(b"").unwrap();
    publisher.wait_for_subscribers(1, T).unwrap();
    for i in 0..5000u32 {
        publisher.send_bytes(&i.to_be_bytes()).unwrap();
    }
    assert_eq!(publisher.stats().dropped_hwm, 0);
    let mut buf = [0u8; 4];
    for i in 0..5000u32 {
        assert_eq!(pull.recv_into_timeout(&mut buf, T).unwrap(), 4);
        assert_eq!(u32::from_be_bytes(buf), i);
        assert_eq!(sub.recv_into_timeout(&mut buf, T).unwrap(), 4);
        assert_eq!(u32::from_be_bytes(buf), i);
    }
}
