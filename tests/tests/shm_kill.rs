//! `kill -9` of each participant at a random point: the survivors go on. Plus the two
//! deterministic crash points of the work queue (inside a loan, inside a borrowed message),
//! which only the ring's recovery can unwedge.
#![forbid(unsafe_code)]

mod shm_common;

use std::time::Duration;

use shm_common::{Peer, numbers, random_below, scratch_file, unique};

const WATCHDOG: Duration = Duration::from_secs(120);

fn bitmap_ids(file: &std::path::Path, n: u64) -> Vec<u64> {
    let map = std::fs::read(file).unwrap();
    let _ = std::fs::remove_file(file);
    (0..n)
        .filter(|id| map[(id / 8) as usize] & (1 << (id % 8)) != 0)
        .collect()
}

#[test]
fn killed_publisher_is_replaced_and_subscribers_follow() {
    let ep = format!("shm://{}", unique("kill-pub"));
    let mut first = Peer::spawn(&["pub", &ep, "1000000", "pace_us=200", "gen=1"], WATCHDOG);
    assert_eq!(first.line(), "bound");
    let mut sub = Peer::spawn(&["sub", &ep, "50", "until_gen=2"], WATCHDOG);
    assert_eq!(sub.line(), "ready");
    first.tell("go");
    std::thread::sleep(Duration::from_millis(10 + random_below(100)));
    first.kill();
    // The restarted publisher reclaims the dead one's segment; the subscriber follows it.
    let mut second = Peer::spawn(
        &["pub", &ep, "51", "pace_us=2000", "gen=2", "nogo=1"],
        WATCHDOG,
    );
    assert_eq!(second.line(), "bound");
    let out = sub.finish();
    assert!(out.last().unwrap().starts_with("received"), "{out:?}");
    second.expect_line("published");
    second.finish();
}

#[test]
fn killed_subscriber_does_not_disturb_the_others() {
    let ep = format!("shm://{}", unique("kill-sub"));
    let n = 20_000u64;
    let mut publisher = Peer::spawn(&["pub", &ep, &n.to_string(), "pace_us=20"], WATCHDOG);
    assert_eq!(publisher.line(), "bound");
    let last = (n - 1).to_string();
    let mut victim = Peer::spawn(&["sub", &ep, &last], WATCHDOG);
    let mut survivor = Peer::spawn(&["sub", &ep, &last], WATCHDOG);
    assert_eq!(victim.line(), "ready");
    assert_eq!(survivor.line(), "ready");
    publisher.tell("go");
    std::thread::sleep(Duration::from_millis(random_below(100)));
    victim.kill();
    publisher.expect_line("published");
    let got = numbers(&survivor.finish()[0]);
    assert_eq!(got[0] + got[1], n);
    publisher.finish();
}

#[test]
fn killed_replier_is_replaced_and_the_requester_retries() {
    let ep = format!("shm://{}", unique("kill-rep"));
    let mut rep = Peer::spawn(&["rep", &ep], WATCHDOG);
    assert_eq!(rep.line(), "bound");
    let mut req = Peer::spawn(&["req", &ep, "4000"], WATCHDOG);
    assert_eq!(req.line(), "ready");
    assert_eq!(req.line(), "halfway");
    std::thread::sleep(Duration::from_micros(random_below(3000)));
    rep.kill();
    let mut again = Peer::spawn(&["rep", &ep], WATCHDOG);
    assert_eq!(again.line(), "bound");
    let out = req.finish();
    assert!(out.last().unwrap().starts_with("requests 4000 "), "{out:?}");
    again.kill();
    shm_common::unlink(&ep);
}

#[test]
fn killed_puller_loses_at_most_its_own_jobs_and_the_rest_go_on() {
    let n = 100_000u64;
    let ep = format!("shm://{}", unique("kill-pull"));
    let mut pusher = Peer::spawn(&["push", &ep, &n.to_string(), "slots=64"], WATCHDOG);
    assert_eq!(pusher.line(), "bound");
    let files: Vec<_> = (0..4).map(|i| scratch_file(&format!("kp-{i}"))).collect();
    let mut workers: Vec<Peer> = files
        .iter()
        .map(|f| {
            Peer::spawn(
                &["pull", &ep, &n.to_string(), f.to_str().unwrap()],
                WATCHDOG,
            )
        })
        .collect();
    for w in &mut workers {
        assert_eq!(w.line(), "ready");
    }
    pusher.tell("go");
    assert_eq!(workers[0].line(), "working");
    std::thread::sleep(Duration::from_millis(random_below(50)));
    workers.remove(0).kill();
    // The pusher is never wedged by the dead worker (recovery frees a slot it held).
    assert_eq!(pusher.line(), format!("pushed {n}"));
    pusher.tell("stop 3");
    let mut seen = Vec::new();
    let mut total = 0;
    for (w, f) in workers.into_iter().zip(&files[1..]) {
        total += numbers(w.finish().last().unwrap())[0];
        seen.extend(bitmap_ids(f, n));
    }
    let _ = std::fs::remove_file(&files[0]);
    let count = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), count, "a job was delivered twice");
    assert_eq!(total as usize, count);
    pusher.finish();
}

#[test]
fn puller_killed_holding_a_message_is_recovered() {
    let ep = format!("shm://{}", unique("hang-pull"));
    let mut pusher = Peer::spawn(&["push", &ep, "20", "slots=4"], WATCHDOG);
    assert_eq!(pusher.line(), "bound");
    let mut hang = Peer::spawn(&["pull-hang", &ep], WATCHDOG);
    assert_eq!(hang.line(), "ready");
    pusher.tell("go");
    assert_eq!(hang.line(), "holding");
    hang.kill();
    // Job 0 died with the puller (at-most-once); every other job still arrives.
    let file = scratch_file("hang-pull");
    let mut worker = Peer::spawn(&["pull", &ep, "20", file.to_str().unwrap()], WATCHDOG);
    assert_eq!(worker.line(), "ready");
    assert_eq!(pusher.line(), "pushed 20");
    pusher.tell("stop 1");
    assert_eq!(worker.finish().last().unwrap(), "pulled 19");
    assert_eq!(bitmap_ids(&file, 20), (1..20).collect::<Vec<_>>());
    pusher.finish();
}

#[test]
fn pusher_killed_inside_a_loan_is_recovered() {
    let ep = format!("shm://{}", unique("hang-push"));
    let mut pusher = Peer::spawn(&["push", &ep, "10", "slots=8"], WATCHDOG);
    assert_eq!(pusher.line(), "bound");
    let mut hang = Peer::spawn(&["push-hang", &ep, "bind=0"], WATCHDOG);
    assert_eq!(hang.line(), "holding");
    hang.kill();
    // The dead pusher's position is tombstoned by recovery; no job is lost.
    let file = scratch_file("hang-push");
    let mut worker = Peer::spawn(&["pull", &ep, "10", file.to_str().unwrap()], WATCHDOG);
    assert_eq!(worker.line(), "ready");
    pusher.tell("go");
    assert_eq!(pusher.line(), "pushed 10");
    pusher.tell("stop 1");
    assert_eq!(worker.finish().last().unwrap(), "pulled 10");
    assert_eq!(bitmap_ids(&file, 10), (0..10).collect::<Vec<_>>());
    pusher.finish();
}

#[test]
fn a_subscriber_can_tell_its_publisher_died() {
    let ep = format!("shm://{}", unique("kill-alive"));
    let mut publisher = Peer::spawn(&["pub", &ep, "1", "nogo=1"], WATCHDOG);
    assert_eq!(publisher.line(), "bound");
    // Its one message goes out before this subscriber attaches (which starts at the next
    // message), so nothing is left to receive: the wait below can only end by its timeout.
    assert_eq!(publisher.line(), "published 1");
    let mut sub = ringwire::shm::Subscriber::connect(&ep).unwrap();
    sub.subscribe(b"").unwrap();
    assert!(sub.publisher_alive());
    publisher.kill();
    assert!(!sub.publisher_alive());
    // Waiting on a dead publisher times out (no successor): it never hangs past the deadline.
    let got = sub.recv_bytes_timeout(Duration::from_millis(50));
    assert!(matches!(got, Err(ringwire::Error::Timeout)), "{got:?}");
    shm_common::unlink(&ep);
}

/// Issue #11 item 5: after `kill -9` of a replier and the start of a new one, a fresh requester
/// that connects right away (possibly while the dead replier's segment is still there) gets its
/// first request answered, never "peer disconnected". 200 restarts, no failure allowed.
#[test]
fn fresh_requester_after_replier_restart_never_sees_disconnected() {
    use ringwire::shm::{Requester, ShmOptions};
    let ep = format!("shm://{}", unique("restart-rep"));
    let mut rep = Peer::spawn(&["rep", &ep], WATCHDOG);
    assert_eq!(rep.line(), "bound");
    let mut failures = Vec::new();
    for i in 0..200u64 {
        rep.kill();
        rep = Peer::spawn(&["rep", &ep], WATCHDOG);
        // No waiting for "bound": the requester races the new replier's bind.
        let options = ShmOptions::new().connect_timeout(Duration::from_secs(10));
        let got = Requester::builder()
            .options(options)
            .connect(&ep)
            .and_then(|mut q| {
                q.request::<_, (u64, Vec<u8>)>(&(i, vec![1u8, 2]), Duration::from_secs(10))
            });
        match got {
            Ok(reply) => assert_eq!(reply, (2 * i, vec![2, 1])),
            Err(e) => failures.push(format!("restart {i}: {e}")),
        }
    }
    rep.kill();
    shm_common::unlink(&ep);
    assert!(
        failures.is_empty(),
        "{} failures: {failures:?}",
        failures.len()
    );
}
