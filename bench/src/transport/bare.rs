//! `bare`: the physical limit of two processes talking through shared memory — no library, just
//! atomics in a file in `/dev/shm` mapped by both, and busy-spinning readers.
//!
//! Two variants:
//! - `atomic`: one mailbox per direction (a value word and a count word in their own cache
//!   line); send = store the value, bump the count with Release; receive = spin until the count
//!   changes (Acquire), read the value. Round trips only (a mailbox holds one message).
//! - `ring`: a single-producer single-consumer ring of 1024 `u64` slots per direction (the
//!   classic Lamport ring with cached indices, as in heapless `spsc` or rigtorp's SPSCQueue), so
//!   the sender can run ahead: round trips and 8-byte throughput.
//!
//! Messages are just the 8-byte sequence number: this is the floor under every shm transport.
#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::hint::spin_loop;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapMut;

use ringwire::bench::link::{
    BenchError, Link, Params, Prepared, Result, Transport, fail, unique_name,
};

/// Bytes between independently written words, so that they never share (or neighbour) a cache
/// line.
const LINE: usize = 128;
/// Slots per ring direction.
const CAP: usize = 1024;
/// Bytes of one ring direction: tail line, head line, slots.
const RING_BYTES: usize = 2 * LINE + CAP * 8;

/// A file mapped by both processes; the leader's copy removes the file when dropped.
struct Shared {
    map: MmapMut,
    owned: Option<PathBuf>,
}

impl Shared {
    fn create(len: usize) -> Result<Shared> {
        let dir = Path::new("/dev/shm");
        let dir = if dir.is_dir() {
            dir.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(unique_name("bare"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.set_len(len as u64)?;
        let map = Self::map(&file)?;
        Ok(Shared {
            map,
            owned: Some(path),
        })
    }

    fn open(path: &str, len: usize) -> Result<Shared> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        if file.metadata()?.len() < len as u64 {
            return Err(BenchError(format!("{path} is shorter than {len} bytes")));
        }
        Ok(Shared {
            map: Self::map(&file)?,
            owned: None,
        })
    }

    fn map(file: &File) -> Result<MmapMut> {
        // SAFETY: the file is private to this benchmark run (unique name, created by the
        // leader); the only other process mapping it is our peer, and all accesses to the
        // mapping go through `AtomicU64`s (see `word`), so concurrent modification is not UB.
        unsafe { MmapMut::map_mut(file) }.map_err(|e| fail("mmap", e))
    }

    /// The atomic word at byte `offset` of the mapping.
    fn word(&self, offset: usize) -> &AtomicU64 {
        assert!(offset.is_multiple_of(8) && offset + 8 <= self.map.len());
        // SAFETY: in bounds and 8-aligned (asserted; mappings are page-aligned); `AtomicU64` has
        // the size and alignment of `u64`; the mapping lives as long as `self`, which the
        // returned reference borrows; both processes access these bytes only atomically.
        unsafe { &*self.map.as_ptr().add(offset).cast::<AtomicU64>() }
    }

    fn path(&self) -> String {
        self.owned
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default()
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(path) = &self.owned {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// One-slot mailboxes: direction 0 at offset 0 (leader to peer), direction 1 at `LINE`.
struct Mailbox {
    shm: Shared,
    tx: usize,
    rx: usize,
    sent: u64,
    seen: u64,
}

impl Link for Mailbox {
    fn send(&mut self, seq: u64) -> Result<()> {
        self.sent += 1;
        self.shm.word(self.tx + 8).store(seq, Ordering::Relaxed);
        // SYNC: Release publishes the value word; pairs with the Acquire count load in `recv`.
        self.shm.word(self.tx).store(self.sent, Ordering::Release);
        Ok(())
    }

    fn recv(&mut self) -> Result<u64> {
        loop {
            // SYNC: Acquire pairs with the Release count store in `send`.
            let count = self.shm.word(self.rx).load(Ordering::Acquire);
            if count != self.seen {
                self.seen = count;
                return Ok(self.shm.word(self.rx + 8).load(Ordering::Relaxed));
            }
            spin_loop();
        }
    }
}

/// SPSC rings: direction 0 (leader to peer) at offset 0, direction 1 at `RING_BYTES`.
struct Ring {
    shm: Shared,
    tx: usize,
    rx: usize,
    tail: u64,
    head_cache: u64,
    head: u64,
    tail_cache: u64,
}

impl Ring {
    fn new(shm: Shared, leader: bool) -> Ring {
        let (tx, rx) = if leader {
            (0, RING_BYTES)
        } else {
            (RING_BYTES, 0)
        };
        Ring {
            shm,
            tx,
            rx,
            tail: 0,
            head_cache: 0,
            head: 0,
            tail_cache: 0,
        }
    }

    fn slot(base: usize, index: u64) -> usize {
        base + 2 * LINE + (index % CAP as u64) as usize * 8
    }
}

impl Link for Ring {
    fn send(&mut self, seq: u64) -> Result<()> {
        while self.tail - self.head_cache == CAP as u64 {
            // SYNC: Acquire pairs with the consumer's Release head store in `recv`: the slot it
            // freed has been read before we overwrite it.
            self.head_cache = self.shm.word(self.tx + LINE).load(Ordering::Acquire);
            spin_loop();
        }
        let slot = Self::slot(self.tx, self.tail);
        self.shm.word(slot).store(seq, Ordering::Relaxed);
        self.tail += 1;
        // SYNC: Release publishes the slot; pairs with the Acquire tail load in `recv`.
        self.shm.word(self.tx).store(self.tail, Ordering::Release);
        Ok(())
    }

    fn recv(&mut self) -> Result<u64> {
        while self.head == self.tail_cache {
            // SYNC: Acquire pairs with the producer's Release tail store in `send`.
            self.tail_cache = self.shm.word(self.rx).load(Ordering::Acquire);
            spin_loop();
        }
        let seq = self
            .shm
            .word(Self::slot(self.rx, self.head))
            .load(Ordering::Relaxed);
        self.head += 1;
        // SYNC: Release hands the slot back; pairs with the Acquire head load in `send`.
        self.shm
            .word(self.rx + LINE)
            .store(self.head, Ordering::Release);
        Ok(seq)
    }
}

/// Which bare variant.
pub struct Bare {
    ring: bool,
}

/// The atomic mailbox ping-pong.
pub const ATOMIC: Bare = Bare { ring: false };
/// The SPSC ring of `u64`s.
pub const RING: Bare = Bare { ring: true };

struct Pending {
    shm: Shared,
    ring: bool,
}

impl Bare {
    fn len(&self) -> usize {
        if self.ring { 2 * RING_BYTES } else { 2 * LINE }
    }

    fn link(&self, shm: Shared, leader: bool) -> Box<dyn Link> {
        if self.ring {
            Box::new(Ring::new(shm, leader))
        } else {
            let (tx, rx) = if leader { (0, LINE) } else { (LINE, 0) };
            Box::new(Mailbox {
                shm,
                tx,
                rx,
                sent: 0,
                seen: 0,
            })
        }
    }
}

impl Prepared for Pending {
    fn address(&self) -> String {
        self.shm.path()
    }

    fn accept(self: Box<Self>) -> Result<Box<dyn Link>> {
        // Nothing to wait for: the peer maps the file, and the handshake's probe waits for it.
        let bare = Bare { ring: self.ring };
        Ok(bare.link(self.shm, true))
    }
}

impl Transport for Bare {
    fn id(&self) -> &'static str {
        if self.ring {
            "bare-ring"
        } else {
            "bare-atomic"
        }
    }

    fn group(&self) -> &'static str {
        "bare"
    }

    fn label(&self) -> &'static str {
        if self.ring {
            "spsc ring, spin"
        } else {
            "atomic ping-pong, spin"
        }
    }

    fn rtt_sizes(&self) -> &'static [usize] {
        &[8]
    }

    fn throughput(&self) -> bool {
        self.ring
    }

    fn prepare(&self, _params: Params) -> Result<Box<dyn Prepared>> {
        Ok(Box::new(Pending {
            shm: Shared::create(self.len())?,
            ring: self.ring,
        }))
    }

    fn connect(&self, address: &str, _params: Params) -> Result<Box<dyn Link>> {
        Ok(self.link(Shared::open(address, self.len())?, false))
    }
}
