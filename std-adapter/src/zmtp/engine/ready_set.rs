//! The owner's readiness set: a level-triggered `epoll` set (Linux) over the engine's
//! listeners and connections, kept in step with what the pump wants to hear of each.
//!
//! A pump that must wait for any of its descriptors (a REP or ROUTER waiting for the next
//! request, from whichever peer) used to hand every one of them to `poll(2)`, so each message
//! cost O(connections) in the kernel: with a thousand idle peers a loopback round trip took
//! 15× as long as with none. The set is registered once per descriptor and changed only when
//! the interest changes (read while there is room in the inbox or the handshake runs, write
//! while bytes wait), so a wait asks the kernel for the ready descriptors only. Events carry
//! the connection's slot and uid, so an event of a descriptor that left (its slot reused)
//! is recognised and skipped.
//!
//! Elsewhere (and with `--cfg ringwire_poll_backend`) there is no set and the pump polls, as
//! before; an `epoll` call that fails drops the set for good, and the pump polls from then on.

use rustix::event::PollFlags;

use super::super::conn::Conn;
use super::Engine;

#[cfg(all(target_os = "linux", not(ringwire_poll_backend)))]
mod imp {
    use rustix::event::{PollFlags, Timespec, epoll};
    use rustix::fd::{BorrowedFd, OwnedFd};
    use std::io;

    /// Top bit of the event data: a listener (index in the low bits).
    const LISTENER: u64 = 1 << 63;
    /// Bits of the event data that hold a connection's slot; the uid's low bits above them.
    const SLOT_BITS: u32 = 24;
    const UID_MASK: u64 = (1 << (63 - SLOT_BITS)) - 1;
    /// Events taken per wait.
    const EVENTS: usize = 256;

    /// Where an event came from.
    pub enum Source {
        Listener(usize),
        Conn { slot: usize, uid_bits: u64 },
    }

    pub struct ReadySet {
        epoll: OwnedFd,
        /// Listeners registered (the first this many of the engine's).
        listeners: usize,
        /// Whether they are registered for reading (accepting is not paused).
        accepting: bool,
    }

    fn flags((read, write): (bool, bool)) -> epoll::EventFlags {
        let mut f = epoll::EventFlags::empty();
        if read {
            f |= epoll::EventFlags::IN;
        }
        if write {
            f |= epoll::EventFlags::OUT;
        }
        f
    }

    /// The low bits of a uid that an event carries.
    pub fn uid_bits(uid: u64) -> u64 {
        uid & UID_MASK
    }

    impl ReadySet {
        pub fn new() -> Option<ReadySet> {
            let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).ok()?;
            Some(ReadySet {
                epoll,
                listeners: 0,
                accepting: true,
            })
        }

        /// Registers listeners not yet in the set and applies `accepting` to all.
        pub fn sync_listeners(
            &mut self,
            fds: &[BorrowedFd<'_>],
            accepting: bool,
        ) -> io::Result<()> {
            if fds.len() < self.listeners {
                return Err(io::Error::other("a listener went away"));
            }
            let f = flags((accepting, false));
            if accepting != self.accepting {
                for (i, fd) in fds.iter().enumerate().take(self.listeners) {
                    epoll::modify(
                        &self.epoll,
                        fd,
                        epoll::EventData::new_u64(LISTENER | i as u64),
                        f,
                    )?;
                }
                self.accepting = accepting;
            }
            for (i, fd) in fds.iter().enumerate().skip(self.listeners) {
                epoll::add(
                    &self.epoll,
                    fd,
                    epoll::EventData::new_u64(LISTENER | i as u64),
                    f,
                )?;
            }
            self.listeners = fds.len();
            Ok(())
        }

        /// Registers (`known`: re-registers) connection `slot` with `interest`.
        pub fn sync_conn(
            &self,
            fd: BorrowedFd<'_>,
            slot: usize,
            uid: u64,
            interest: (bool, bool),
            known: bool,
        ) -> io::Result<()> {
            if slot >= 1 << SLOT_BITS {
                return Err(io::Error::other("too many connections for the set"));
            }
            let data = epoll::EventData::new_u64((uid_bits(uid) << SLOT_BITS) | slot as u64);
            let r = if known {
                epoll::modify(&self.epoll, fd, data, flags(interest))
            } else {
                epoll::add(&self.epoll, fd, data, flags(interest))
            };
            Ok(r?)
        }

        /// Takes a connection's descriptor out of the set (before it is closed: a duplicate
        /// of it elsewhere would otherwise keep it registered).
        pub fn forget(&self, fd: BorrowedFd<'_>) {
            let _ = epoll::delete(&self.epoll, fd);
        }

        /// Waits up to `timeout` (`None`: without limit) and returns the ready descriptors.
        /// An interrupted wait returns nothing.
        pub fn wait(&self, timeout: Option<&Timespec>) -> io::Result<Vec<(Source, PollFlags)>> {
            // `epoll_wait` counts whole milliseconds (a 50 µs wait would last 1 ms, and a
            // thread waiting for this socket's lock with it); `poll`'s timeout is exact, and
            // the epoll descriptor is readable while any of its events is ready. So a wait
            // with a fraction of a millisecond sleeps in `poll` on the set, then collects.
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            let mut timeout = timeout;
            if let Some(t) = timeout
                && t.tv_nsec % 1_000_000 != 0
            {
                let mut set = [rustix::event::PollFd::new(&self.epoll, PollFlags::IN)];
                match rustix::event::poll(&mut set, Some(t)) {
                    Ok(0) | Err(rustix::io::Errno::INTR) => return Ok(Vec::new()),
                    Ok(_) => timeout = Some(&zero),
                    Err(e) => return Err(e.into()),
                }
            }
            // (`epoll::Event` is not `Send`, so the buffer cannot live in the engine.)
            let mut events: Vec<epoll::Event> = Vec::with_capacity(EVENTS);
            match epoll::wait(
                &self.epoll,
                rustix::buffer::spare_capacity(&mut events),
                timeout,
            ) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
            Ok(events
                .iter()
                .map(|ev| {
                    let d = ev.data.u64();
                    let source = if d & LISTENER != 0 {
                        Source::Listener((d & !LISTENER) as usize)
                    } else {
                        Source::Conn {
                            slot: (d & ((1 << SLOT_BITS) - 1)) as usize,
                            uid_bits: d >> SLOT_BITS,
                        }
                    };
                    let e = ev.flags;
                    let mut p = PollFlags::empty();
                    for (from, to) in [
                        (epoll::EventFlags::IN, PollFlags::IN),
                        (epoll::EventFlags::OUT, PollFlags::OUT),
                        (epoll::EventFlags::HUP, PollFlags::HUP),
                        (epoll::EventFlags::ERR, PollFlags::ERR),
                    ] {
                        if e.contains(from) {
                            p |= to;
                        }
                    }
                    (source, p)
                })
                .collect())
        }
    }
}

#[cfg(not(all(target_os = "linux", not(ringwire_poll_backend))))]
mod imp {
    /// No readiness set here: the pump polls.
    pub enum ReadySet {}

    impl ReadySet {
        pub fn new() -> Option<ReadySet> {
            None
        }
    }
}

pub use imp::ReadySet;

impl Engine {
    /// What the pump wants to hear of connection `c`: reads while the inbox has room
    /// (`read_ok`) or the handshake runs, writes while bytes wait.
    fn interest(c: &Conn, read_ok: bool) -> (bool, bool) {
        (read_ok || !c.ready, c.wants_write())
    }

    /// Takes connection `c` (leaving the engine) out of the set.
    pub(super) fn forget_ready(&self, c: &Conn) {
        #[cfg(all(target_os = "linux", not(ringwire_poll_backend)))]
        if let (Some(set), Some(_)) = (&self.ready_set, c.owner_interest) {
            set.forget(rustix::fd::AsFd::as_fd(&c.stream));
        }
        #[cfg(not(all(target_os = "linux", not(ringwire_poll_backend))))]
        let _ = c;
    }

    /// Waits on the readiness set until `until` and returns the ready (is listener, index,
    /// events) as the `poll` path would; `None` if there is no set (then the caller polls).
    pub(super) fn wait_ready_set(
        &mut self,
        read_ok: bool,
        until: Option<std::time::Instant>,
    ) -> Option<Vec<(bool, usize, PollFlags)>> {
        #[cfg(all(target_os = "linux", not(ringwire_poll_backend)))]
        {
            match self.sync_ready_set(read_ok, until) {
                Ok(ready) => ready,
                Err(e) => {
                    log::debug!("readiness set dropped, polling instead: {e}");
                    self.ready_set = None;
                    for c in self.conns.iter_mut().flatten() {
                        c.owner_interest = None;
                    }
                    None
                }
            }
        }
        #[cfg(not(all(target_os = "linux", not(ringwire_poll_backend))))]
        {
            let _ = (
                read_ok,
                until,
                Self::interest,
                &self.ready_set,
                ReadySet::new,
                &self.synced_read_ok,
                Self::touch_all,
                Self::conn_deadline,
            );
            None
        }
    }

    #[cfg(all(target_os = "linux", not(ringwire_poll_backend)))]
    fn sync_ready_set(
        &mut self,
        read_ok: bool,
        until: Option<std::time::Instant>,
    ) -> std::io::Result<Option<Vec<(bool, usize, PollFlags)>>> {
        use rustix::fd::AsFd;
        if self.ready_set.is_none() {
            self.ready_set = ReadySet::new();
        }
        if self.synced_read_ok != Some(read_ok) {
            // Every connection's read interest changes with the inbox's room.
            self.touch_all();
            self.synced_read_ok = Some(read_ok);
        }
        let hs = self.opts.handshake_timeout.as_millis() as u64;
        let publisher = matches!(
            self.kind,
            ringwire_core::pattern::socket_type::SocketType::Pub
                | ringwire_core::pattern::socket_type::SocketType::XPub
        );
        let accepting = self.accept_paused.is_none();
        let Some(set) = self.ready_set.as_mut() else {
            return Ok(None);
        };
        let fds: Vec<_> = self.listeners.iter().map(|(l, _)| l.as_fd()).collect();
        set.sync_listeners(&fds, accepting)?;
        // Sync the connections that may have changed; those that are settled (see
        // `Engine::unsettled`) leave the list, their timers folded into the floor.
        let mut floor = self.timer_floor;
        let mut k = 0;
        while k < self.unsettled.len() {
            let slot = self.unsettled[k];
            #[cfg(test)]
            self.visited.set(self.visited.get() + 1);
            let settled = match self.conns[slot].as_mut() {
                None => true,
                Some(c) => {
                    let want = Self::interest(c, read_ok);
                    if c.owner_interest != Some(want) {
                        set.sync_conn(
                            c.stream.as_fd(),
                            slot,
                            c.uid,
                            want,
                            c.owner_interest.is_some(),
                        )?;
                        c.owner_interest = Some(want);
                    }
                    let settled = c.dead.is_none()
                        && !c.has_pending()
                        && c.registered == (!c.ready || publisher, c.blocked);
                    if settled && let Some(t) = Engine::conn_deadline(c, hs) {
                        floor = floor.min(t);
                    }
                    settled
                }
            };
            if settled {
                self.listed[slot] = false;
                self.unsettled.swap_remove(k);
            } else {
                k += 1;
            }
        }
        self.timer_floor = floor;
        let timeout = until.map(|u| {
            ringwire_platform::readiness::timespec(
                u.saturating_duration_since(std::time::Instant::now()),
            )
        });
        let mut ready = Vec::new();
        for (source, flags) in set.wait(timeout.as_ref())? {
            match source {
                imp::Source::Listener(i) => ready.push((true, i, flags)),
                imp::Source::Conn { slot, uid_bits } => {
                    let ours = self
                        .conns
                        .get(slot)
                        .and_then(Option::as_ref)
                        .is_some_and(|c| imp::uid_bits(c.uid) == uid_bits);
                    if ours {
                        ready.push((false, slot, flags));
                    }
                }
            }
        }
        Ok(Some(ready))
    }
}
