//! The signal doorbell over a platform segment (layout and protocol:
//! [`ringwire_core::events::doorbell`]).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering, fence};
use std::time::Duration;

use ringwire_core::events::doorbell::{
    DOORBELL_LEN, DOORBELL_MAGIC, DOORBELL_VERSION, event_ring_name, inbox_name, off, segment_name,
    to_take,
};
use ringwire_platform::segment::{atomic_u32_at, atomic_u64_at};
use ringwire_platform::{
    CreateMode, CreateOptions, OsWaiter, ProcessStamp, Segment, SegmentError, SegmentName, Waiter,
};

/// How long the owner sleeps at most before looking at its stop flag.
const OWNER_SLICE: Duration = Duration::from_millis(100);

/// Signals rung and not taken before a signaller checks that the owner still lives.
const CHECK_OWNER_AFTER: u64 = 64;

fn name(instance: u32, id: &[u8]) -> Option<SegmentName> {
    let n = segment_name(instance, id);
    SegmentName::new(std::str::from_utf8(&n).ok()?).ok()
}

/// Word accessors on a segment known to hold `DOORBELL_LEN` bytes (created so, or checked on
/// open): the offsets are constants inside it, so these cannot fail.
fn w32(seg: &Segment, o: usize) -> &AtomicU32 {
    atomic_u32_at(seg, o).expect("doorbell length checked")
}

fn w64(seg: &Segment, o: usize) -> &AtomicU64 {
    atomic_u64_at(seg, o).expect("doorbell length checked")
}

/// The `shm://` endpoint of node `id`'s inbox.
pub(super) fn inbox_endpoint(instance: u32, id: &[u8]) -> Option<String> {
    let n = inbox_name(instance, id);
    Some(format!("shm://{}", std::str::from_utf8(&n).ok()?))
}

/// The `shm://` endpoint of node `id`'s waker (the ring that wakes its events thread).
pub(super) fn waker_endpoint(instance: u32, id: &[u8]) -> Option<String> {
    let mut n = segment_name(instance, id);
    n[..6].copy_from_slice(b"rwwak-");
    Some(format!("shm://{}", std::str::from_utf8(&n).ok()?))
}

/// Removes the name of node `id`'s doorbell (the service does it for a node it lost without
/// a LEAVE: a process killed with -9 never unlinks its own). A node still running keeps its
/// mapping; signallers then find no doorbell and ask the service, which no longer knows it.
pub(super) fn unlink(instance: u32, id: &[u8]) {
    if let Some(n) = name(instance, id) {
        let _ = Segment::unlink(&n);
    }
    let n = inbox_name(instance, id);
    if let Some(n) = std::str::from_utf8(&n)
        .ok()
        .and_then(|n| SegmentName::new(n).ok())
    {
        let _ = Segment::unlink(&n);
    }
    if let Some(n) = waker_endpoint(instance, id)
        .as_deref()
        .and_then(|e| e.strip_prefix("shm://"))
        .and_then(|n| SegmentName::new(n).ok())
    {
        let _ = Segment::unlink(&n);
    }
}

/// The `shm://` endpoint of the ring in which node `emitter` writes event `event`.
pub(super) fn ring_endpoint(instance: u32, event: &[u8], emitter: &[u8]) -> Option<String> {
    let n = event_ring_name(instance, event, emitter);
    Some(format!("shm://{}", std::str::from_utf8(&n).ok()?))
}

/// Removes the name of the ring of `emitter` for `event` (the service does it for a node it
/// lost; a reader that mapped it keeps reading what was written).
pub(super) fn unlink_ring(instance: u32, event: &[u8], emitter: &[u8]) {
    let n = event_ring_name(instance, event, emitter);
    if let Some(n) = std::str::from_utf8(&n)
        .ok()
        .and_then(|n| SegmentName::new(n).ok())
    {
        let _ = Segment::unlink(&n);
    }
}

/// The owner's side: created when the node joins.
pub(super) struct Bell {
    seg: Segment,
}

impl Bell {
    /// Creates this node's doorbell (replacing one a dead owner left behind).
    pub(super) fn create(instance: u32, id: &[u8]) -> Option<Bell> {
        let name = name(instance, id)?;
        let mut opts = CreateOptions::default();
        let seg = match Segment::create_with(&name, DOORBELL_LEN, &opts) {
            Ok(s) => s,
            Err(SegmentError::Exists) => {
                if Remote::open(instance, id).is_some() {
                    // A live owner with the same id and service: a hash collision; no bell.
                    return None;
                }
                opts.mode = CreateMode::Replace;
                Segment::create_with(&name, DOORBELL_LEN, &opts).ok()?
            }
            Err(e) => {
                log::info!(target: "ringwire::events", "no signal doorbell for {name}: {e}");
                return None;
            }
        };
        if seg.len() < DOORBELL_LEN {
            return None;
        }
        let me = ProcessStamp::current();
        let r = Ordering::Relaxed;
        w32(&seg, off::VERSION).store(DOORBELL_VERSION, r);
        w32(&seg, off::INSTANCE).store(instance, r);
        w32(&seg, off::PID).store(me.pid, r);
        w64(&seg, off::START).store(me.start_time, r);
        w32(&seg, off::ID_LEN).store(id.len() as u32, r);
        for (i, chunk) in id.chunks(4).enumerate() {
            let mut b = [0u8; 4];
            b[..chunk.len()].copy_from_slice(chunk);
            w32(&seg, off::ID + 4 * i).store(u32::from_le_bytes(b), r);
        }
        // SYNC: Release pairs with the Acquire load of the magic in `Remote::open`: an opener
        // that sees the magic sees every field above.
        w32(&seg, off::MAGIC).store(DOORBELL_MAGIC, Ordering::Release);
        Some(Bell { seg })
    }

    /// The owner's loop: sleeps until rung, then hands `ring` the number of new signals;
    /// returns when `stop` is set (and [`wake`](Self::wake) called).
    pub(super) fn run(&self, stop: &AtomicBool, mut ring: impl FnMut(u64)) {
        let (rung, taken) = (w64(&self.seg, off::RUNG), w64(&self.seg, off::TAKEN));
        let (waiters, word) = (w32(&self.seg, off::WAITERS), w32(&self.seg, off::WORD));
        let waiter = OsWaiter::default();
        // From what was taken (0 in a fresh doorbell), not from the rung: signals rung
        // between the doorbell's creation and this thread's start are not lost.
        let mut last = taken.load(Ordering::Acquire);
        while !stop.load(Ordering::Relaxed) {
            waiters.store(1, Ordering::Relaxed);
            // SYNC: SeqCst fence pairs with the signaller's fence in `Remote::ring` (Dekker):
            // either it sees `waiters == 1`, or we see its rung below.
            fence(Ordering::SeqCst);
            // SYNC: Acquire pairs with the signaller's Release bump of the word.
            let seen = word.load(Ordering::Acquire);
            // SYNC: Acquire pairs with the signaller's Release add to the rung.
            if rung.load(Ordering::Acquire) == last {
                waiter.wait(word, seen, Some(OWNER_SLICE));
            }
            waiters.store(0, Ordering::Relaxed);
            let now = rung.load(Ordering::Acquire);
            let n = to_take(now, last);
            if n != 0 {
                last = now;
                // SYNC: Release pairs with the signaller's Acquire load of `taken`.
                taken.store(now, Ordering::Release);
                ring(n);
            }
        }
    }

    /// Wakes the owner's loop (after setting its stop flag).
    pub(super) fn wake(&self) {
        let word = w32(&self.seg, off::WORD);
        word.fetch_add(1, Ordering::Release);
        OsWaiter::default().wake_all(word);
    }
}

impl Drop for Bell {
    fn drop(&mut self) {
        // SYNC: Release pairs with the signaller's Acquire load of `closed`.
        w32(&self.seg, off::CLOSED).store(1, Ordering::Release);
    }
}

/// What ringing a remote doorbell did.
pub(super) enum Rang {
    /// The signal is in the owner's doorbell.
    Rung,
    /// The owner closed it or died: use the service.
    Gone,
}

/// A signaller's handle on another node's doorbell.
pub(super) struct Remote {
    seg: Segment,
    owner: ProcessStamp,
}

impl Remote {
    /// Opens node `id`'s doorbell, if it exists, belongs to `id` of this service instance,
    /// is open and its owner lives.
    pub(super) fn open(instance: u32, id: &[u8]) -> Option<Remote> {
        let seg = Segment::open(&name(instance, id)?).ok()?;
        if seg.len() < DOORBELL_LEN {
            return None;
        }
        // SYNC: Acquire pairs with the owner's Release store of the magic.
        if w32(&seg, off::MAGIC).load(Ordering::Acquire) != DOORBELL_MAGIC
            || w32(&seg, off::VERSION).load(Ordering::Relaxed) != DOORBELL_VERSION
            || w32(&seg, off::INSTANCE).load(Ordering::Relaxed) != instance
            || w32(&seg, off::CLOSED).load(Ordering::Acquire) != 0
        {
            return None;
        }
        let len = w32(&seg, off::ID_LEN).load(Ordering::Relaxed) as usize;
        if len != id.len() {
            return None;
        }
        let mut stored = [0u8; 64];
        for i in 0..16 {
            let w = w32(&seg, off::ID + 4 * i).load(Ordering::Relaxed);
            stored[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
        if &stored[..len] != id {
            return None;
        }
        let owner = ProcessStamp {
            pid: w32(&seg, off::PID).load(Ordering::Relaxed),
            start_time: w64(&seg, off::START).load(Ordering::Relaxed),
        };
        if !owner.is_alive() {
            return None;
        }
        Some(Remote { seg, owner })
    }

    /// Whether the owner has not closed its doorbell (it closes it when it leaves).
    pub(super) fn is_open(&self) -> bool {
        // SYNC: Acquire pairs with the owner's Release store of `closed`.
        w32(&self.seg, off::CLOSED).load(Ordering::Acquire) == 0
    }

    /// Whether the owner process still runs (a system call).
    pub(super) fn owner_alive(&self) -> bool {
        self.owner.is_alive()
    }

    /// Rings: one atomic add, a fence and a load; a futex wake only if the owner sleeps.
    pub(super) fn ring(&self) -> Rang {
        // SYNC: Acquire pairs with the owner's Release store of `closed`.
        if w32(&self.seg, off::CLOSED).load(Ordering::Acquire) != 0 {
            return Rang::Gone;
        }
        // SYNC: Release pairs with the owner's Acquire loads of the rung.
        let rung = w64(&self.seg, off::RUNG).fetch_add(1, Ordering::Release) + 1;
        // SYNC: SeqCst fence pairs with the owner's fence in `Bell::run`.
        fence(Ordering::SeqCst);
        if w32(&self.seg, off::WAITERS).load(Ordering::Relaxed) != 0 {
            let word = w32(&self.seg, off::WORD);
            // SYNC: Release pairs with the owner's Acquire load of the word.
            word.fetch_add(1, Ordering::Release);
            OsWaiter::default().wake_all(word);
        }
        // An owner killed with -9 never closes its doorbell; once signals pile up untaken,
        // check that it still lives (a system call, rare).
        let taken = w64(&self.seg, off::TAKEN).load(Ordering::Acquire);
        if to_take(rung, taken) > CHECK_OWNER_AFTER && !self.owner.is_alive() {
            return Rang::Gone;
        }
        Rang::Rung
    }
}
