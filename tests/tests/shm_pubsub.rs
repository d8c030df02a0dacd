//! PUB/SUB over shared memory: in-process basics, then across processes.
#![forbid(unsafe_code)]

mod shm_common;

use std::time::Duration;

use ringwire::Error;
use ringwire::shm::{Publisher, Subscriber};
use serde::{Deserialize, Serialize};
use shm_common::{Peer, numbers, unique};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Pose {
    x: f32,
    y: f32,
    seq: u32,
}

#[test]
fn typed_topics_and_prefix_filters() {
    let ep = format!("shm://{}", unique("ps-basic"));
    let mut publisher = Publisher::bind(&ep).unwrap();
    let mut all = Subscriber::connect(&ep).unwrap();
    all.subscribe(b"");
    let mut poses = Subscriber::connect(&ep).unwrap();
    poses.subscribe(b"pose");
    let mut none = Subscriber::connect(&ep).unwrap();

    publisher
        .send_on(
            "pose/left",
            &Pose {
                x: 1.0,
                y: 2.0,
                seq: 1,
            },
        )
        .unwrap();
    publisher.send_on("imu", &7u32).unwrap();
    publisher.send_multipart(&[b"pose/right", b"raw"]).unwrap();

    assert_eq!(all.try_recv::<Pose>().unwrap().seq, 1);
    assert_eq!(all.try_recv::<u32>().unwrap(), 7);
    let m = all.try_recv_multipart().unwrap();
    assert_eq!(m.frames(), &[b"pose/right".to_vec(), b"raw".to_vec()]);
    assert!(matches!(all.try_recv::<u32>(), Err(Error::WouldBlock)));

    assert_eq!(poses.try_recv::<Pose>().unwrap().seq, 1);
    assert_eq!(poses.try_recv_bytes().unwrap(), b"raw");
    assert!(matches!(poses.try_recv_bytes(), Err(Error::WouldBlock)));

    assert!(matches!(none.try_recv_bytes(), Err(Error::WouldBlock)));
    assert!(matches!(
        none.recv_bytes_timeout(Duration::from_millis(5)),
        Err(Error::Timeout)
    ));

    // After unsubscribing, "pose" messages are dropped at this reader.
    assert!(poses.unsubscribe(b"pose"));
    publisher
        .send_on(
            "pose/left",
            &Pose {
                x: 0.0,
                y: 0.0,
                seq: 2,
            },
        )
        .unwrap();
    assert!(matches!(poses.try_recv_bytes(), Err(Error::WouldBlock)));
    assert_eq!(all.try_recv::<Pose>().unwrap().seq, 2);
}

const WATCHDOG: Duration = Duration::from_secs(120);

/// One publisher process, `subs` subscriber processes: every subscriber accounts for every
/// message exactly (received + lost = published), in order, uncorrupted.
fn fan_out(subs: usize, n: u64) {
    let ep = format!("shm://{}", unique("ps-fan"));
    let mut publisher = Peer::spawn(&["pub", &ep, &n.to_string(), "slots=256"], WATCHDOG);
    assert_eq!(publisher.line(), "bound");
    let last = (n - 1).to_string();
    let mut peers: Vec<Peer> = (0..subs)
        .map(|_| Peer::spawn(&["sub", &ep, &last], WATCHDOG))
        .collect();
    for p in &mut peers {
        assert_eq!(p.line(), "ready");
    }
    publisher.tell("go");
    assert_eq!(publisher.line(), format!("published {n}"));
    for p in peers {
        let out = p.finish();
        let nums = numbers(&out[0]);
        assert_eq!(nums[0] + nums[1], n, "{out:?}");
        assert!(nums[0] > 0);
    }
    publisher.finish();
}

#[test]
fn one_subscriber_process() {
    fan_out(1, 20_000);
}

#[test]
fn four_subscriber_processes() {
    fan_out(4, 20_000);
}

#[test]
fn sixteen_subscriber_processes() {
    fan_out(16, 5_000);
}

#[test]
fn a_slow_subscriber_loses_and_counts_exactly_while_a_fast_one_keeps_up() {
    let ep = format!("shm://{}", unique("ps-slow"));
    let n = 1000u64;
    let mut publisher = Peer::spawn(&["pub", &ep, &n.to_string(), "slots=16"], WATCHDOG);
    assert_eq!(publisher.line(), "bound");
    let last = (n - 1).to_string();
    let mut slow = Peer::spawn(&["sub", &ep, &last, "delay_us=2000"], WATCHDOG);
    let mut fast = Peer::spawn(&["sub", &ep, &last], WATCHDOG);
    assert_eq!(slow.line(), "ready");
    assert_eq!(fast.line(), "ready");
    publisher.tell("go");
    publisher.expect_line("published");
    let s = numbers(&slow.finish()[0]);
    assert_eq!(s[0] + s[1], n);
    assert!(
        s[1] > 0,
        "the slow subscriber should have lost messages: {s:?}"
    );
    let f = numbers(&fast.finish()[0]);
    assert_eq!(f[0] + f[1], n);
    publisher.finish();
}

#[cfg(target_os = "linux")]
#[test]
fn an_idle_subscriber_sleeps_in_the_kernel() {
    let ep = format!("shm://{}", unique("ps-idle"));
    let mut publisher = Peer::spawn(&["pub", &ep, "1", "nogo=1"], WATCHDOG);
    assert_eq!(publisher.line(), "bound");
    publisher.expect_line("published");
    for wait in ["wait=block", "wait=adaptive"] {
        let mut sub = Peer::spawn(&["sub", &ep, "99", wait], WATCHDOG);
        assert_eq!(sub.line(), "ready");
        // Nothing more is published: the subscriber must end up asleep (state S), not
        // spinning (R). Bounded by the watchdog, not by a time assertion.
        while shm_common::proc_state(sub.pid()) != Some('S') {
            std::thread::sleep(Duration::from_millis(5));
        }
        sub.kill();
    }
    publisher.finish();
}
