//! `ringwire broker` and `ringwire worker` as subprocesses: requests through them, a clean
//! stop on SIGINT/SIGTERM with counters on stderr and exit 0, usage errors exit 2.
#![forbid(unsafe_code)]

use std::time::Duration;

mod common;

use common::*;

#[test]
fn requests_go_through_broker_and_workers_and_both_stop_with_counters() {
    let (f, b) = (free_tcp_port(), free_tcp_port());
    let front = format!("tcp://127.0.0.1:{f}");
    let back = format!("tcp://127.0.0.1:{b}");
    let broker = spawn(&[
        "broker",
        "--frontend",
        &front,
        "--backend",
        &back,
        "--heartbeat-ms",
        "100",
        "--max-missed",
        "5",
        "--strategy",
        "round-robin",
    ]);
    let worker = spawn(&[
        "worker",
        "--connect",
        &back,
        "--upper",
        "--heartbeat-ms",
        "100",
    ]);
    // Requests wait in the broker's queue until the worker registers.
    for q in ["one", "two", "three"] {
        let out = finish(spawn(&[
            "req",
            "--connect",
            &front,
            q,
            "--timeout-ms",
            "30000",
        ]));
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{}\n", q.to_uppercase())
        );
    }
    signal(&worker, "INT");
    let w = finish(worker);
    assert_eq!(w.status.code(), Some(0), "{w:?}");
    assert!(
        String::from_utf8_lossy(&w.stderr).contains("handled 3"),
        "{w:?}"
    );
    signal(&broker, "TERM");
    let out = finish(broker);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("requests 3 replies 3 retries 0"), "{err}");
    assert!(err.contains("workers_dropped"), "{err}");
}

#[test]
fn mdp_worker_serves_its_service_to_a_library_client() {
    let (f, b) = (free_tcp_port(), free_tcp_port());
    let front = format!("tcp://127.0.0.1:{f}");
    let back = format!("tcp://127.0.0.1:{b}");
    let broker = spawn(&["broker", "--frontend", &front, "--backend", &back]);
    let worker = spawn(&["worker", "--connect", &back, "--service", "echo", "--echo"]);
    let mut client = ringwire::broker::Client::builder(&front)
        .service("echo")
        .timeout(Duration::from_secs(30))
        .connect()
        .unwrap();
    // Answered, so both processes are up (and their signal handlers installed).
    assert_eq!(client.request_bytes("any", b"payload").unwrap(), b"payload");
    signal(&worker, "TERM");
    assert_eq!(finish(worker).status.code(), Some(0));
    signal(&broker, "INT");
    let out = finish(broker);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("requests 1 replies 1"));
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let cases: [&[&str]; 4] = [
        &[
            "broker",
            "--frontend",
            "tcp://x",
            "--backend",
            "tcp://127.0.0.1:0",
        ],
        &[
            "broker",
            "--frontend",
            "tcp://127.0.0.1:0",
            "--backend",
            "tcp://127.0.0.1:0",
            "--heartbeat-ms",
            "0",
        ],
        &["worker", "--connect", "nope://x"],
        &[
            "worker",
            "--connect",
            "tcp://127.0.0.1:1",
            "--protocol",
            "ppp",
            "--service",
            "s",
        ],
    ];
    for args in cases {
        let out = finish(spawn(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    for args in [
        &["broker", "--frontend", "tcp://127.0.0.1:0"][..],
        &["worker", "--strategy", "x"],
    ] {
        assert_eq!(finish(spawn(args)).status.code(), Some(2), "{args:?}");
    }
}
