//! Issue #11's corruption script, kept as a test: every header and control field of every ring
//! kind (broadcast for PUB/SUB, SPSC for both rings of REQ/REP, MPMC for PUSH/PULL), and the
//! first slot's header, is overwritten with hostile values while both peers run. The peers
//! must get errors or go on working: never panic, never hang past their timeouts (a worker that
//! does not finish within a generous watchdog fails the test instead of hanging it), and
//! never crash (a crash would take the test process down).
#![forbid(unsafe_code)]

mod shm_common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

use ringwire::shm::{
    FullPolicy, Publisher, Puller, Pusher, Replier, Requester, ShmOptions, Subscriber,
};
use ringwire_core::segment::SLOTS_OFFSET;
use ringwire_platform::SegmentName;
use ringwire_platform::segment::{Segment, atomic_u32_at, atomic_u64_at};
use shm_common::unique;

/// Each operation's bound, and how many each peer makes.
const STEP: Duration = Duration::from_millis(10);
const OPS: u64 = 6;
/// A worker still running after this is hung.
const WATCHDOG: Duration = Duration::from_secs(30);

/// `(offset, width in bytes, name)` of every field of a core segment's header and ring-control
/// lines (docs/segment-layout.md), and of its first slot's header.
const FIELDS: &[(usize, usize, &str)] = &[
    (0, 8, "magic"),
    (8, 4, "version"),
    (12, 4, "state"),
    (16, 4, "kind"),
    (20, 4, "slot_size"),
    (24, 4, "slot_count"),
    (28, 4, "slot_stride"),
    (32, 8, "type_hash"),
    (40, 8, "fingerprint"),
    (48, 4, "creator_pid"),
    (56, 8, "creator_start"),
    (64, 4, "writer_claim"),
    (68, 4, "event"),
    (72, 4, "waiters"),
    (76, 4, "subscriber_entries"),
    (80, 8, "type_name"),
    (128, 8, "producer position"),
    (192, 8, "consumer position"),
    (200, 4, "consumer claim / recovery lock"),
    (EVERY_SLOT, 8, "every slot's sequence"),
    (EVERY_SLOT + 8, 4, "every slot's length"),
    (EVERY_SLOT + 12, 4, "every slot's owner"),
];

/// Field offsets from here on are within a slot's header, scribbled in every slot of the ring.
const EVERY_SLOT: usize = 1 << 40;

/// Operations made and operations that failed (errors are allowed; the count shows the
/// scribbles bite).
static OPS_MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static OPS_FAILED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts one operation's outcome.
fn count<T, E>(r: Result<T, E>) -> Option<T> {
    OPS_MADE.fetch_add(1, Ordering::Relaxed);
    if r.is_err() {
        OPS_FAILED.fetch_add(1, Ordering::Relaxed);
    }
    r.ok()
}

/// Hostile values per width.
fn values(width: usize) -> &'static [u64] {
    if width == 4 {
        &[0, 0x8000_0001, u32::MAX as u64]
    } else {
        &[0, 1 << 62, u64::MAX]
    }
}

fn options() -> ShmOptions {
    ShmOptions::new()
        .connect_timeout(STEP)
        .liveness_interval(Duration::from_millis(5))
        .full(FullPolicy::BlockFor(STEP))
}

fn poke(seg: &Segment, offset: usize, width: usize, value: u64) {
    // SYNC: Release pairs with the rings' Acquire loads that meet the scribble.
    if width == 4 {
        atomic_u32_at(seg, offset)
            .unwrap()
            .store(value as u32, Ordering::Release);
    } else {
        atomic_u64_at(seg, offset)
            .unwrap()
            .store(value, Ordering::Release);
    }
}

/// One peer's operations; it calls the barrier's `wait` halfway, and the scribble lands as the
/// peers go on from there.
type Work = Box<dyn FnOnce(&Barrier) + Send>;

/// Says "finished" when dropped: at the end of a worker, or while a panic unwinds it.
struct Finished(mpsc::Sender<()>);

impl Drop for Finished {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Runs the two peers' `work`, scribbles `value` at `offset` while they run, and checks that
/// both finish without a panic within the watchdog.
fn run(
    label: &str,
    name: &str,
    base: usize,
    field: usize,
    width: usize,
    value: u64,
    work: [Work; 2],
) {
    let seg = Segment::open(&SegmentName::new(name).unwrap()).unwrap();
    let offsets: Vec<usize> = if field >= EVERY_SLOT {
        let geometry = |at: usize| {
            atomic_u32_at(&seg, base + at)
                .unwrap()
                .load(Ordering::Acquire)
        };
        let (count, stride) = (geometry(24) as usize, geometry(28) as usize);
        (0..count)
            .map(|k| base + SLOTS_OFFSET + k * stride + field - EVERY_SLOT)
            .collect()
    } else {
        vec![base + field]
    };
    let offset = offsets[0];
    let (done, finished) = mpsc::channel();
    let halfway = Arc::new(Barrier::new(3));
    let workers: Vec<_> = work
        .into_iter()
        .map(|w| {
            let finished = Finished(done.clone());
            let halfway = halfway.clone();
            std::thread::spawn(move || {
                let _finished = finished;
                w(&halfway);
            })
        })
        .collect();
    halfway.wait();
    for &at in &offsets {
        poke(&seg, at, width, value);
    }
    for _ in 0..2 {
        assert!(
            finished.recv_timeout(WATCHDOG).is_ok(),
            "{label}: a peer hung after {value:#x} at {offset}"
        );
    }
    for w in workers {
        if w.join().is_err() {
            panic!("{label}: a peer panicked after {value:#x} at {offset}");
        }
    }
}

/// Every field of every ring, every value: `case` builds the peers' work for one scribble.
fn each_case(rings: &[usize], case: impl Fn(&str) -> ([Work; 2], Option<usize>), kind: &str) {
    for &ring in rings {
        for &(field, width, what) in FIELDS {
            for &value in values(width) {
                let name = unique(kind);
                let (work, half) = case(&name);
                let base = if ring == 0 { 0 } else { half.unwrap() };
                let label = format!("{kind} ring {ring} {what}");
                run(&label, &name, base, field, width, value, work);
                shm_common::unlink(&format!("shm://{name}"));
            }
        }
    }
    // The three tests share the counters: the figure is a rough indication.
    eprintln!(
        "{kind}: {} of {} operations so far failed (errors are allowed, hangs and panics not)",
        OPS_FAILED.load(Ordering::Relaxed),
        OPS_MADE.load(Ordering::Relaxed)
    );
}

#[test]
fn pub_sub_survives_every_broadcast_field_scribbled() {
    each_case(
        &[0],
        |name| {
            let ep = format!("shm://{name}");
            let mut publisher = Publisher::builder().options(options()).bind(&ep).unwrap();
            let mut sub = Subscriber::builder()
                .options(options())
                .connect(&ep)
                .unwrap();
            sub.subscribe(b"").unwrap();
            publisher.send(&0u64).unwrap();
            let publish: Work = Box::new(move |halfway| {
                for i in 1..=OPS {
                    if i == OPS / 2 {
                        halfway.wait();
                    }
                    count(publisher.send(&i));
                }
            });
            let ep2 = ep.clone();
            let subscribe: Work = Box::new(move |halfway| {
                for i in 0..=OPS {
                    if i == OPS / 2 {
                        halfway.wait();
                    }
                    count(sub.recv_timeout::<u64>(STEP));
                }
                // Opening the scribbled segment afresh gives an answer too.
                let _ = Subscriber::builder().options(options()).connect(&ep2);
            });
            ([publish, subscribe], None)
        },
        "corrupt-bc",
    );
}

#[test]
fn req_rep_survives_every_spsc_field_of_both_rings_scribbled() {
    each_case(
        &[0, 1],
        |name| {
            let ep = format!("shm://{name}");
            let mut rep = Replier::builder().options(options()).bind(&ep).unwrap();
            let mut req = Requester::builder()
                .options(options())
                .connect(&ep)
                .unwrap();
            let half = Segment::open(&SegmentName::new(name).unwrap())
                .unwrap()
                .len()
                / 2;
            let ask: Work = Box::new(move |halfway| {
                for i in 0..OPS {
                    if i == OPS / 2 {
                        halfway.wait();
                    }
                    count(req.request::<_, u64>(&i, STEP));
                }
            });
            let ep2 = ep.clone();
            let answer: Work = Box::new(move |halfway| {
                for i in 0..OPS {
                    if i == OPS / 2 {
                        halfway.wait();
                    }
                    if let Some(x) = count(rep.recv_timeout::<u64>(STEP)) {
                        count(rep.send(&(2 * x)));
                    }
                }
                let _ = Requester::builder().options(options()).connect(&ep2);
            });
            ([ask, answer], Some(half))
        },
        "corrupt-spsc",
    );
}

#[test]
fn push_pull_survives_every_mpmc_field_scribbled() {
    each_case(
        &[0],
        |name| {
            let ep = format!("shm://{name}");
            let mut push = Pusher::builder()
                .options(options().slot_count(4))
                .bind(&ep)
                .unwrap();
            let mut pull = Puller::builder().options(options()).connect(&ep).unwrap();
            push.send(&0u64).unwrap();
            let feed: Work = Box::new(move |halfway| {
                for i in 1..=OPS {
                    if i == OPS / 2 {
                        halfway.wait();
                    }
                    count(push.send(&i));
                }
            });
            let ep2 = ep.clone();
            let drain: Work = Box::new(move |halfway| {
                for i in 0..=OPS {
                    if i == OPS / 2 {
                        halfway.wait();
                    }
                    count(pull.recv_timeout::<u64>(STEP));
                }
                let _ = Puller::builder().options(options()).connect(&ep2);
            });
            ([feed, drain], None)
        },
        "corrupt-mpmc",
    );
}
