//! Issue #11 item 11: a claim cannot be forged into permanence. An owner id written into a
//! claim by a faulty or hostile process (pid 1, or the pid of a live process that never opened
//! the segment) is dead, and the next requester, publisher, pusher or `bind` takes the claim
//! over; a live owner (a child process holding a socket) keeps its claim, a `kill -9`ed one
//! loses it. On Linux the verdict rests on kernel-released locks on the segment file
//! (`ringwire_platform::claims`), which a forged id does not hold.
#![forbid(unsafe_code)]
#![cfg(target_os = "linux")]

mod shm_common;

use std::process::{Child, Command};
use std::sync::atomic::Ordering;
use std::time::Duration;

use ringwire::Error;
use ringwire::shm::{
    FullPolicy, Publisher, Puller, Pusher, Replier, Requester, ShmOptions, Subscriber,
};
use ringwire_platform::segment::{Segment, SegmentError, atomic_u32_at, atomic_u64_at};
use ringwire_platform::{ProcessStamp, SegmentName};
use shm_common::{Peer, unique};

const WATCHDOG: Duration = Duration::from_secs(60);
/// Header offsets (docs/segment-layout.md): creator pid and start time, the single-writer
/// claim, the SPSC consumer claim / MPMC recovery lock.
const CREATOR_PID: usize = 48;
const CREATOR_START: usize = 56;
const WRITER_CLAIM: usize = 64;
const CONSUMER_CLAIM: usize = 200;
/// The MPMC participant table: the last 64 lines of the segment.
const PARTICIPANTS: usize = 64;

fn open(name: &str) -> Segment {
    Segment::open(&SegmentName::new(name).unwrap()).unwrap()
}

/// Stores `value` at byte `offset` of segment `name`, as a faulty process would.
fn poke(name: &str, offset: usize, value: u32) {
    atomic_u32_at(&open(name), offset)
        .unwrap()
        // SYNC: Release pairs with the Acquire loads of the claim words.
        .store(value, Ordering::Release);
}

/// Writes `forged` as the creator of segment `name`.
fn forge_creator(name: &str, forged: ProcessStamp) {
    let seg = open(name);
    // SYNC: Release pairs with the Acquire header loads of `bind`'s inspection.
    atomic_u32_at(&seg, CREATOR_PID)
        .unwrap()
        .store(forged.pid, Ordering::Release);
    atomic_u64_at(&seg, CREATOR_START)
        .unwrap()
        .store(forged.start_time, Ordering::Release);
}

/// Owner ids a faulty process might write: pid 1 (always running), and a live process of this
/// user that never opened any segment (a `sleep`). Both read as alive by pid.
struct Forged {
    sleeper: Child,
    ids: Vec<(&'static str, ProcessStamp)>,
}

impl Forged {
    fn new() -> Self {
        let sleeper = Command::new("sleep").arg("60").spawn().unwrap();
        let init = ProcessStamp::of(1).expect("pid 1 runs");
        let live = ProcessStamp::of(sleeper.id()).expect("sleep runs");
        Self {
            sleeper,
            ids: vec![("pid 1", init), ("a live sleep", live)],
        }
    }
}

/// Runs `case` once per forged id; fails with every case's complaint.
fn each_forged(case: impl Fn(ProcessStamp) -> Result<(), String>) {
    let forged = Forged::new();
    let failures: Vec<String> = forged
        .ids
        .iter()
        .filter_map(|&(what, stamp)| case(stamp).err().map(|e| format!("{what}: {e}")))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
}

impl Drop for Forged {
    fn drop(&mut self) {
        let _ = self.sleeper.kill();
        let _ = self.sleeper.wait();
    }
}

fn options() -> ShmOptions {
    ShmOptions::new()
        .connect_timeout(Duration::from_secs(5))
        .liveness_interval(Duration::from_millis(20))
}

/// A replier in a child process, bound to `ep`.
fn replier(ep: &str) -> Peer {
    let mut rep = Peer::spawn(&["rep", ep], WATCHDOG);
    assert_eq!(rep.line(), "bound");
    rep
}

fn ask(ep: &str, x: u64) -> Result<(u64, Vec<u8>), Error> {
    let mut req = Requester::builder().options(options()).connect(ep)?;
    req.request(&(x, vec![1u8, 2]), Duration::from_secs(10))
}

#[test]
fn forged_requester_claims_are_taken_over_by_the_next_requester() {
    each_forged(|forged| {
        let name = unique("forge-req");
        let ep = format!("shm://{name}");
        let rep = replier(&ep);
        // The requester's two claims: the request ring's producer, the reply ring's consumer.
        let half = open(&name).len() / 2;
        poke(&name, WRITER_CLAIM, forged.pid);
        poke(&name, half + CONSUMER_CLAIM, forged.pid);
        let got = ask(&ep, 21);
        rep.kill();
        shm_common::unlink(&ep);
        match got {
            Ok(reply) if reply == (42, vec![2, 1]) => Ok(()),
            other => Err(format!("requester: {other:?}")),
        }
    });
}

#[test]
fn forged_creator_does_not_make_bind_refuse() {
    each_forged(|forged| {
        let name = unique("forge-creator");
        let ep = format!("shm://{name}");
        let rep = replier(&ep);
        // The replier dies, and its segment's creator field says a live process made it.
        rep.kill();
        forge_creator(&name, forged);
        let again = Replier::builder().options(options()).bind(&ep);
        shm_common::unlink(&ep);
        again.map(drop).map_err(|e| format!("bind: {e:?}"))
    });
}

#[test]
fn forged_publisher_claim_is_taken_over_by_the_next_publisher() {
    each_forged(|forged| {
        let name = unique("forge-pub");
        let ep = format!("shm://{name}");
        let mut sub = Subscriber::builder().options(options()).bind(&ep).unwrap();
        sub.subscribe(b"").unwrap();
        poke(&name, WRITER_CLAIM, forged.pid);
        let mut publisher = Publisher::builder()
            .options(options())
            .connect(&ep)
            .map_err(|e| format!("publisher: {e}"))?;
        publisher.send(&7u32).unwrap();
        assert_eq!(sub.recv_timeout::<u32>(Duration::from_secs(5)).unwrap(), 7);
        Ok(())
    });
}

#[test]
fn forged_participants_do_not_wedge_the_next_pusher() {
    each_forged(|forged| {
        let name = unique("forge-push");
        let ep = format!("shm://{name}");
        let mut pull = Puller::builder().options(options()).bind(&ep).unwrap();
        // Every entry of the participant table, and the recovery lock, "held" by the forged id.
        let len = open(&name).len();
        for i in 0..PARTICIPANTS {
            poke(&name, len - 64 * (PARTICIPANTS - i), forged.pid);
        }
        poke(&name, CONSUMER_CLAIM, forged.pid);
        let mut push = Pusher::builder()
            .options(options().full(FullPolicy::BlockFor(Duration::from_secs(5))))
            .connect(&ep)
            .unwrap();
        push.send(&9u32).map_err(|e| format!("push: {e:?}"))?;
        assert_eq!(pull.recv_timeout::<u32>(Duration::from_secs(5)).unwrap(), 9);
        Ok(())
    });
}

#[test]
fn live_owners_in_other_processes_keep_their_claims() {
    let name = unique("live-owner");
    let ep = format!("shm://{name}");
    // One client channel, so that a live requester's claim is the only way in.
    let mut rep = Peer::spawn(&["rep", &ep, "clients=1"], WATCHDOG);
    assert_eq!(rep.line(), "bound");
    // The replier's process is alive: its segment is not reclaimed and its role not taken.
    let bind = Replier::builder().options(options()).bind(&ep);
    assert!(
        matches!(bind, Err(Error::Segment(SegmentError::InUse { pid })) if pid == rep.pid()),
        "{:?}",
        bind.err()
    );
    let second = Replier::builder().options(options()).connect(&ep);
    assert!(
        matches!(second, Err(Error::Unsupported(_))),
        "{:?}",
        second.err()
    );
    let mut holder = Peer::spawn(&["req-hold", &ep], WATCHDOG);
    assert_eq!(holder.line(), "ready");
    let req = Requester::builder().options(options()).connect(&ep);
    assert!(matches!(req, Err(Error::Unsupported(_))), "{:?}", req.err());
    // Once the requester is killed, its role is free again.
    holder.kill();
    assert_eq!(ask(&ep, 5).unwrap(), (10, vec![2, 1]));
    rep.kill();
    // And once the replier is killed, so is the endpoint.
    let bind = Replier::builder().options(options()).bind(&ep);
    assert!(bind.is_ok(), "{:?}", bind.err());
}
