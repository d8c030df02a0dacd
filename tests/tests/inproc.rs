//! `inproc://NAME`: names private to one process, every ZMTP socket type (the conformance
//! suite runs its behaviours over inproc too), a name bound once, and another process that
//! finds the name refused.
#![forbid(unsafe_code)]

use std::time::Duration;

use ringwire::zmtp::{Pair, Pull, Push, Rep, Req};
use ringwire_tests::watchdog;

const T: Duration = Duration::from_secs(20);

#[test]
fn every_pattern_pair_talks_over_inproc_between_threads() {
    let _watchdog = watchdog(60);
    let mut rep = Rep::bind("inproc://inproc-rep").unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..3 {
            let q = rep.recv_bytes_timeout(T).unwrap();
            rep.send_bytes(&q.to_ascii_uppercase()).unwrap();
        }
        rep.flush().unwrap();
    });
    let mut req = Req::connect("inproc://inproc-rep").unwrap();
    for q in ["a", "bc", "def"] {
        req.send_bytes(q.as_bytes()).unwrap();
        assert_eq!(
            req.recv_bytes_timeout(T).unwrap(),
            q.to_ascii_uppercase().as_bytes()
        );
    }
    server.join().unwrap();

    // Connecting first: the connect retries until the name is bound.
    let mut push = Push::connect("inproc://inproc-pipe").unwrap();
    let mut pull = Pull::bind("inproc://inproc-pipe").unwrap();
    for i in 0..100u32 {
        push.send(&i).unwrap();
    }
    push.flush().unwrap();
    for i in 0..100u32 {
        assert_eq!(pull.recv_timeout::<u32>(T).unwrap(), i);
    }

    let mut a = Pair::bind("inproc://inproc-pair").unwrap();
    let mut b = Pair::connect("inproc://inproc-pair").unwrap();
    b.send_bytes(b"ping").unwrap();
    assert_eq!(a.recv_bytes_timeout(T).unwrap(), b"ping");
}

#[test]
fn a_name_is_bound_once_and_freed_by_drop() {
    let _watchdog = watchdog(60);
    let first = Pull::bind("inproc://inproc-once").unwrap();
    let again = Pull::bind("inproc://inproc-once");
    let err = again.err().expect("a second bind of the same name fails");
    assert!(err.to_string().contains("already bound"), "{err}");
    drop(first);
    Pull::bind("inproc://inproc-once").expect("free again after drop");
}

#[cfg(target_os = "linux")]
#[test]
fn another_process_that_finds_the_name_is_refused() {
    let _watchdog = watchdog(60);
    let _pull = Pull::bind("inproc://inproc-private").unwrap();
    let name = format!("\\0ringwire/inproc/{}/inproc-private", std::process::id());
    // A process connecting to the abstract address gets no greeting: the listener closes
    // the connection at once (it would otherwise send its 64-byte ZMTP greeting).
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n\
         s.settimeout(20)\n\
         s.connect('{name}')\n\
         data = b''\n\
         while True:\n\
         \x20   chunk = s.recv(4096)\n\
         \x20   if not chunk: break\n\
         \x20   data += chunk\n\
         print(len(data))\n"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "{out:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_name_another_process_holds_is_neither_connected_to_nor_bound() {
    use std::io::{BufRead, BufReader};
    let _watchdog = watchdog(60);
    let name = |n: &str| format!("\\0ringwire/inproc/{}/{n}", std::process::id());
    // Another process squats on two of this process's inproc names and reports what a
    // connection to it carried.
    let script = format!(
        "import socket, sys\n\
         a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n\
         a.bind('{}')\n\
         a.listen(4)\n\
         b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n\
         b.bind('{}')\n\
         print('ready', flush=True)\n\
         a.settimeout(20)\n\
         c, _ = a.accept()\n\
         c.settimeout(20)\n\
         data = b''\n\
         while True:\n\
         \x20   chunk = c.recv(4096)\n\
         \x20   if not chunk: break\n\
         \x20   data += chunk\n\
         print(len(data), flush=True)\n\
         sys.stdin.read()\n",
        name("squat-connect"),
        name("squat-bind")
    );
    let mut squatter = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut lines = BufReader::new(squatter.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    // Connecting: the connection is dropped before a byte (our greeting) is sent, and
    // retried.
    let mut push = Push::connect("inproc://squat-connect").unwrap();
    let events = push.monitor();
    assert_eq!(
        lines.next().unwrap().unwrap(),
        "0",
        "nothing reaches a squatter"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, ringwire::zmtp::SocketEvent::Retried { .. })),
        "the connect is retried"
    );
    // Binding: refused, naming why.
    let err = Pull::bind("inproc://squat-bind")
        .err()
        .expect("the name is taken");
    assert!(err.to_string().contains("another process"), "{err}");
    drop(squatter.stdin.take());
    squatter.wait().unwrap();
}
