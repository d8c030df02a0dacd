//! One shm replier, many requesters: threads and processes at once, each reply back to the
//! requester that asked; a `kill -9`ed requester's channel reclaimed for the next one; a
//! `kill -9`ed replier reported to every waiting requester.
#![forbid(unsafe_code)]

mod shm_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ringwire::Error;
use ringwire::shm::{Replier, Requester, ShmOptions};
use shm_common::{Peer, random_below, unique};

const WATCHDOG: Duration = Duration::from_secs(120);

fn options() -> ShmOptions {
    ShmOptions::new()
        .connect_timeout(Duration::from_secs(20))
        .liveness_interval(Duration::from_millis(50))
}

/// Serves `(x, bytes) -> (2x, bytes reversed)` in a thread until `stop` is set; returns the
/// replier (for its counters) when stopped.
fn serve(mut rep: Replier, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<(Replier, u64)> {
    std::thread::spawn(move || {
        let mut served = 0u64;
        while !stop.load(Ordering::Relaxed) {
            match rep.recv_timeout::<(u64, Vec<u8>)>(Duration::from_millis(20)) {
                Ok((x, mut b)) => {
                    b.reverse();
                    rep.send(&(x * 2, b)).expect("reply");
                    served += 1;
                }
                Err(Error::Timeout) => {}
                Err(e) => panic!("replier: {e}"),
            }
        }
        (rep, served)
    })
}

/// Eight requester threads of one process, 100 requests each, against one replier: every
/// reply answers the request its own requester sent.
#[test]
fn eight_requester_threads_each_get_their_own_replies() {
    let ep = format!("shm://{}", unique("many-threads"));
    let rep = Replier::builder()
        .options(options().max_clients(8))
        .bind(&ep)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(rep, stop.clone());
    let clients: Vec<_> = (0..8u8)
        .map(|c| {
            let ep = ep.clone();
            std::thread::spawn(move || {
                let mut req = Requester::builder()
                    .options(options())
                    .connect(&ep)
                    .unwrap();
                for x in 0..100u64 {
                    let tag = vec![c, 0xa0, c.wrapping_mul(7)];
                    let (y, back): (u64, Vec<u8>) = req
                        .request(&(x, tag.clone()), Duration::from_secs(60))
                        .unwrap();
                    let mut want = tag;
                    want.reverse();
                    assert_eq!((y, back), (2 * x, want), "client {c} request {x}");
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let (rep, served) = server.join().unwrap();
    assert_eq!(served, 800);
    assert_eq!(rep.dropped_replies(), 0);
}

/// Eight requester processes, 100 requests each (each puts its pid in its requests and checks
/// the replies carry it), against one replier process.
#[test]
fn eight_requester_processes_against_one_replier() {
    let ep = format!("shm://{}", unique("many-procs"));
    let mut rep = Peer::spawn(&["rep", &ep, "clients=8"], WATCHDOG);
    assert_eq!(rep.line(), "bound");
    let reqs: Vec<_> = (0..8)
        .map(|_| Peer::spawn(&["req", &ep, "100"], WATCHDOG))
        .collect();
    for req in reqs {
        let out = req.finish();
        assert!(out.last().unwrap().starts_with("requests 100 "), "{out:?}");
    }
    rep.kill();
    shm_common::unlink(&ep);
}

/// The client table is bounded: a requester past `max_clients` is told so, and a requester
/// that leaves (socket dropped) frees its channel for the next.
#[test]
fn the_client_limit_is_clear_and_a_left_channel_is_reused() {
    let ep = format!("shm://{}", unique("many-limit"));
    let mut rep = Replier::builder()
        .options(options().max_clients(2))
        .bind(&ep)
        .unwrap();
    let mut a = Requester::connect(&ep).unwrap();
    let b = Requester::connect(&ep).unwrap();
    let err = Requester::connect(&ep).unwrap_err().to_string();
    assert!(err.contains("max_clients"), "{err}");
    for bad in [0, 257] {
        let err = Replier::builder()
            .max_clients(bad)
            .bind(&format!("shm://{}", unique("many-bad")))
            .unwrap_err();
        assert!(
            matches!(err, Error::State(m) if m.contains("max_clients")),
            "{err}"
        );
    }
    drop(b);
    let mut c = Requester::connect(&ep).unwrap();
    // Both work, each gets its own reply, whichever order the replier takes them in.
    a.send(&1u32).unwrap();
    c.send(&2u32).unwrap();
    for _ in 0..2 {
        let x: u32 = rep.recv().unwrap();
        rep.send(&(x * 10)).unwrap();
    }
    assert_eq!(a.recv::<u32>().unwrap(), 10);
    assert_eq!(c.recv::<u32>().unwrap(), 20);
}

/// A request whose requester left before the reply: the reply is dropped and counted; if the
/// channel already has a new owner (here of the same process, so the replier cannot tell them
/// apart) the reply goes into its ring and the new owner discards it by request id.
#[test]
fn a_reply_to_a_requester_that_left_is_dropped_or_discarded() {
    let ep = format!("shm://{}", unique("many-left"));
    let mut rep = Replier::builder()
        .options(options().max_clients(1))
        .bind(&ep)
        .unwrap();
    let mut gone = Requester::connect(&ep).unwrap();
    gone.send(&1u32).unwrap();
    assert_eq!(rep.recv::<u32>().unwrap(), 1);
    drop(gone);
    rep.send(&10u32).unwrap();
    assert_eq!(rep.dropped_replies(), 1);

    let mut gone = Requester::connect(&ep).unwrap();
    gone.send(&2u32).unwrap();
    assert_eq!(rep.recv::<u32>().unwrap(), 2);
    drop(gone);
    let mut next = Requester::connect(&ep).unwrap();
    rep.send(&20u32).unwrap();
    next.send(&3u32).unwrap();
    assert_eq!(rep.recv::<u32>().unwrap(), 3);
    rep.send(&30u32).unwrap();
    assert_eq!(next.recv::<u32>().unwrap(), 30);
    assert!(matches!(next.try_recv::<u32>(), Err(Error::State(_))));
}

/// Requesters killed at random points of their run: each one's channel is reclaimed by the
/// next requester (with `max_clients(2)` and a survivor holding the other channel, the next
/// one can only connect by reclaiming it), the survivor and the replier go on, every reply
/// correct.
#[test]
fn killed_requesters_leave_no_stuck_channel() {
    let ep = format!("shm://{}", unique("many-kill"));
    let rep = Replier::builder()
        .options(options().max_clients(2))
        .bind(&ep)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let server = serve(rep, stop.clone());
    let mut survivor = Requester::builder()
        .options(options())
        .connect(&ep)
        .unwrap();
    let mut x = 0u64;
    let mut ask = |req: &mut Requester| {
        for _ in 0..50 {
            let (y, b): (u64, Vec<u8>) = req
                .request(&(x, vec![1u8, 2]), Duration::from_secs(60))
                .unwrap();
            assert_eq!((y, b), (2 * x, vec![2, 1]));
            x += 1;
        }
    };
    ask(&mut survivor);
    for round in 0..4 {
        let mut victim = Peer::spawn(&["req", &ep, "100000000"], WATCHDOG);
        assert_eq!(victim.line(), "ready", "round {round}");
        std::thread::sleep(Duration::from_millis(random_below(30)));
        victim.kill();
        ask(&mut survivor);
    }
    // The last victim's channel goes to a newcomer, which completes its run.
    let out = Peer::spawn(&["req", &ep, "200"], WATCHDOG).finish();
    assert!(out.last().unwrap().starts_with("requests 200 "), "{out:?}");
    ask(&mut survivor);
    stop.store(true, Ordering::Relaxed);
    server.join().unwrap();
    shm_common::unlink(&ep);
}

/// A `kill -9`ed replier is reported to every requester waiting for a reply (`Disconnected`,
/// not the request's timeout), whether or not it had taken their request.
#[test]
fn a_killed_replier_is_reported_to_every_waiting_requester() {
    let ep = format!("shm://{}", unique("many-rep-kill"));
    let mut rep = Peer::spawn(&["rep-stall", &ep, "clients=4"], WATCHDOG);
    assert_eq!(rep.line(), "bound");
    let mut reqs: Vec<Requester> = (0..4)
        .map(|_| {
            Requester::builder()
                .options(options())
                .connect(&ep)
                .unwrap()
        })
        .collect();
    for (i, req) in reqs.iter_mut().enumerate() {
        req.send(&(i as u64, vec![0u8])).unwrap();
    }
    assert_eq!(rep.line(), "stalled");
    let waiting: Vec<_> = reqs
        .into_iter()
        .map(|mut req| {
            std::thread::spawn(move || req.recv_timeout::<(u64, Vec<u8>)>(WATCHDOG).map(drop))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(random_below(50)));
    rep.kill();
    for w in waiting {
        assert!(matches!(w.join().unwrap(), Err(Error::Disconnected)));
    }
    shm_common::unlink(&ep);
}

/// A replier asleep on its doorbell (blocking waits, liveness checks an hour apart, so no
/// periodic re-check rescues a missed wake) is woken by a request on any channel, not only
/// on channel 0's.
#[test]
fn a_request_on_any_channel_wakes_a_sleeping_replier() {
    use ringwire::shm::WaitMode;
    let ep = format!("shm://{}", unique("many-doorbell"));
    let sleepy = options()
        .wait(WaitMode::Blocking)
        .liveness_interval(Duration::from_secs(3600));
    let mut rep = Replier::builder()
        .options(sleepy.clone().max_clients(3))
        .bind(&ep)
        .unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..40 {
            let (x, b): (u64, Vec<u8>) = rep.recv().unwrap();
            rep.send(&(x * 2, b)).unwrap();
        }
    });
    // Channels 0, 1 and 2: the last two are not the doorbell's.
    let mut reqs: Vec<Requester> = (0..3)
        .map(|_| {
            Requester::builder()
                .options(sleepy.clone())
                .connect(&ep)
                .unwrap()
        })
        .collect();
    for round in 0..20u64 {
        // Give the replier time to fall asleep, then ask on a channel other than 0.
        std::thread::sleep(Duration::from_millis(2));
        let req = &mut reqs[1 + (round % 2) as usize];
        let (y, _): (u64, Vec<u8>) = req
            .request(&(round, Vec::<u8>::new()), Duration::from_secs(60))
            .unwrap();
        assert_eq!(y, 2 * round);
    }
    for round in 20..40u64 {
        let (y, _): (u64, Vec<u8>) = reqs[0]
            .request(&(round, Vec::<u8>::new()), Duration::from_secs(60))
            .unwrap();
        assert_eq!(y, 2 * round);
    }
    server.join().unwrap();
}

/// A requester that abandons requests and never reads fills its own reply ring; the replier's
/// next reply to it is dropped and counted (after at most a liveness interval) instead of
/// holding up the other requesters.
#[test]
fn a_requester_that_never_reads_does_not_hold_up_the_others() {
    let ep = format!("shm://{}", unique("many-unread"));
    let mut rep = Replier::builder()
        .options(options().max_clients(2).slot_count(4))
        .bind(&ep)
        .unwrap();
    let mut deaf = Requester::connect(&ep).unwrap();
    let mut other = Requester::connect(&ep).unwrap();
    // Four replies fill the deaf requester's reply ring; the fifth finds it full.
    for i in 0..5u32 {
        deaf.send(&i).unwrap();
        deaf.abandon();
        assert_eq!(rep.recv::<u32>().unwrap(), i);
        rep.send(&i).unwrap();
    }
    assert_eq!(rep.dropped_replies(), 1);
    other.send(&7u32).unwrap();
    assert_eq!(rep.recv::<u32>().unwrap(), 7);
    rep.send(&70u32).unwrap();
    assert_eq!(other.recv::<u32>().unwrap(), 70);
}

/// The replier killed at a random point while four requester processes run: its restarted
/// successor reclaims the segment, every requester follows it (taking a channel in the new
/// segment), retries the request that was cut off, and finishes with every reply correct.
#[test]
fn requesters_follow_a_killed_and_restarted_replier() {
    let ep = format!("shm://{}", unique("many-rep-restart"));
    let mut rep = Peer::spawn(&["rep", &ep, "clients=4"], WATCHDOG);
    assert_eq!(rep.line(), "bound");
    let mut reqs: Vec<_> = (0..4)
        .map(|_| Peer::spawn(&["req", &ep, "20000"], WATCHDOG))
        .collect();
    for req in &mut reqs {
        assert_eq!(req.line(), "ready");
    }
    reqs[0].expect_line("halfway");
    std::thread::sleep(Duration::from_micros(random_below(2000)));
    rep.kill();
    let again = Peer::spawn(&["rep", &ep, "clients=4"], WATCHDOG);
    for req in reqs {
        let out = req.finish();
        assert!(
            out.last().unwrap().starts_with("requests 20000 "),
            "{out:?}"
        );
    }
    again.kill();
    shm_common::unlink(&ep);
}
