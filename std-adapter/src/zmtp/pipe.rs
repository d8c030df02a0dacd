//! `inproc://NAME`: in-memory pipes between the sockets of one process.
//!
//! A bound name is an entry in this process's table of names (a second bind of a name is
//! refused while the first listener lives). Connecting makes a pipe, two [`Mailbox`]es of
//! whole messages, one per direction: the connecting socket keeps one [`End`] and puts the
//! other in the listener's backlog, which the listening socket accepts like a TCP
//! connection. No byte goes through ZMTP: a message is pushed as the frames' own buffers
//! (`Vec<u8>`s) and popped into the receiving socket's inbox as they are, so it is copied
//! once, from the sender's slices into those buffers (not at all when the sender gave its
//! buffers up: an owned send, see `outgoing.rs`), and never encoded or decoded. The
//! handshake is an exchange of the two sockets' [`Meta`] at connect time (checked against
//! the core's socket-type compatibility by the engine, as a READY would be);
//! subscriptions travel as items of their own.
//!
//! A connection sends what it queued in one go when it flushes, under one lock; so a
//! burst of sends, corked like bytes on a stream (see the `zmtp` module docs), costs one
//! hand-over. Each mailbox has a [`Doorbell`], the descriptor its reader's engine waits on
//! among its sockets, rung only when items arrive while its reader may be asleep (*armed*):
//! while the reader keeps up, sending costs no system call at all.
//! The rule that makes this safe: a doorbell is drained only when its mailbox is found
//! empty, under the mailbox's lock, and the mailbox is then armed; so an unarmed mailbox's
//! doorbell is (or is about to be) readable, and a reader that stops with messages left
//! (its inbox full) is woken by the descriptor as soon as it looks again, as a socket with
//! unread bytes would. Rings happen after the lock is released (so the woken reader does
//! not find it held); a late ring whose item was already taken costs one empty look.
//! A writer that found the peer's queue full sets `want_room`, and the reader then rings
//! the writer's own doorbell once it has taken messages. Dropping an end closes both
//! directions: the peer reads what was sent before, then sees the close (a disconnect).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ringwire_core::pattern::socket_type::SocketType;
use ringwire_platform::readiness::Doorbell;

/// What a socket tells its peer when a pipe is made (the READY of ZMTP).
#[derive(Debug, Clone)]
pub struct Meta {
    /// The socket's type.
    pub kind: SocketType,
    /// Its identity (a ROUTER peer routes by it).
    pub identity: Vec<u8>,
}

/// What a pipe carries.
#[derive(Debug)]
pub enum Item {
    /// A whole message, its frames in order.
    Message(Vec<Vec<u8>>),
    /// A subscription to a prefix (SUB, XSUB to PUB, XPUB).
    Subscribe(Vec<u8>),
    /// A cancelled subscription.
    Cancel(Vec<u8>),
}

impl Item {
    /// Bytes of payload it holds (what the byte budget counts).
    pub fn size(&self) -> usize {
        match self {
            Item::Message(frames) => frames.iter().map(Vec::len).sum(),
            Item::Subscribe(p) | Item::Cancel(p) => p.len(),
        }
    }
}

/// What a reader took from a mailbox.
#[derive(Debug, Default, Clone, Copy)]
pub struct Taken {
    /// Items taken.
    pub items: usize,
    /// The writer is gone and everything it sent has been taken.
    pub closed: bool,
}

struct State<T> {
    items: VecDeque<T>,
    /// Bytes of the items queued.
    bytes: usize,
    /// The reader found the mailbox empty and drained the doorbell: the next push rings.
    armed: bool,
    /// One of the ends went away: nothing more is pushed.
    closed: bool,
    /// The writer found the queue full: ring its doorbell once items are taken.
    want_room: bool,
}

/// A queue from one writer to one reader, with the reader's doorbell.
struct Mailbox<T> {
    state: Mutex<State<T>>,
    bell: Doorbell,
    /// Copies of `State::items.len()` and `State::bytes`, stored under the lock, for the
    /// writer's HWM and budget checks (read without the lock: a value at most as old as
    /// the writer's last lock of the mailbox, so the writer's own pushes always count).
    len: AtomicUsize,
    bytes: AtomicUsize,
}

impl<T> Mailbox<T> {
    fn new() -> io::Result<Self> {
        Ok(Mailbox {
            state: Mutex::new(State {
                items: VecDeque::new(),
                bytes: 0,
                armed: true,
                closed: false,
                want_room: false,
            }),
            bell: Doorbell::new()?,
            len: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
        })
    }

    /// Publishes the queue's size (under the lock).
    fn counted(&self, s: &State<T>) {
        // SYNC: Relaxed: the values are hints read by `queued`; the mutex orders them.
        self.len.store(s.items.len(), Ordering::Relaxed);
        self.bytes.store(s.bytes, Ordering::Relaxed);
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `items` (of `size` bytes each) in one go and wakes the reader if it may
    /// sleep; `Err` if the mailbox is closed (the items are dropped).
    fn push(&self, items: impl Iterator<Item = T>, size: impl Fn(&T) -> usize) -> Result<(), ()> {
        let armed = {
            let mut s = self.lock();
            if s.closed {
                return Err(());
            }
            for item in items {
                s.bytes += size(&item);
                s.items.push_back(item);
            }
            self.counted(&s);
            !s.items.is_empty() && std::mem::replace(&mut s.armed, false)
        };
        // Rung after the lock is released, so the woken reader does not find it held.
        if armed {
            self.bell.ring();
        }
        Ok(())
    }

    /// Wakes the reader if it may sleep with items queued (`anyway`: even with none, so
    /// that it looks once).
    fn ring(&self, anyway: bool) {
        let armed = {
            let mut s = self.lock();
            s.armed && (anyway || !s.items.is_empty()) && std::mem::replace(&mut s.armed, false)
        };
        if armed {
            self.bell.ring();
        }
    }

    /// Takes at most `max` items into `each` (`size` tells each one's bytes); an emptied
    /// mailbox is armed and its doorbell drained. Returns what was taken and whether the
    /// writer asked for room.
    fn take(
        &self,
        max: usize,
        size: impl Fn(&T) -> usize,
        mut each: impl FnMut(T),
    ) -> (Taken, bool) {
        let mut taken = Vec::new();
        let (closed, want_room) = {
            let mut s = self.lock();
            while taken.len() < max {
                let Some(item) = s.items.pop_front() else {
                    break;
                };
                s.bytes -= size(&item);
                taken.push(item);
            }
            self.counted(&s);
            // Emptied: drain and arm. Also when the reader was woken for nothing: a ring
            // made after the lock was released may land after the item it announced was
            // taken (every ring that is still to come finds the mailbox armed, so it is
            // followed by a look).
            if s.items.is_empty() && (!s.armed || taken.is_empty()) {
                s.armed = true;
                self.bell.drain();
            }
            let want_room = !taken.is_empty() && std::mem::take(&mut s.want_room);
            (s.closed && s.items.is_empty(), want_room)
        };
        let items = taken.len();
        taken.into_iter().for_each(&mut each);
        (Taken { items, closed }, want_room)
    }

    /// Closes the mailbox (the peer sees it once it has taken what is queued); `clear`
    /// also drops what is queued (its reader is the end going away).
    fn close(&self, clear: bool) {
        let dropped = {
            let mut s = self.lock();
            s.closed = true;
            if s.armed {
                s.armed = false;
                self.bell.ring();
            }
            if clear {
                s.bytes = 0;
                let items = std::mem::take(&mut s.items);
                self.counted(&s);
                items
            } else {
                VecDeque::new()
            }
        };
        // Dropped outside the lock (an end's drop locks the mailboxes of its own pipe).
        drop(dropped);
    }

    /// Items and bytes queued (see `len`).
    fn queued(&self) -> (usize, usize) {
        // SYNC: Relaxed, see `counted`.
        let len = self.len.load(Ordering::Relaxed);
        (len, self.bytes.load(Ordering::Relaxed))
    }
}

/// One socket's end of a pipe.
pub struct End {
    /// What the peer sends us (our doorbell).
    rx: Arc<Mailbox<Item>>,
    /// What we send the peer.
    tx: Arc<Mailbox<Item>>,
    /// What the peer told us when the pipe was made.
    pub peer: Meta,
}

impl std::fmt::Debug for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("End").field("peer", &self.peer).finish()
    }
}

impl End {
    /// Sends `items` (emptied) to the peer in one go, waking it if it may sleep; `Err`
    /// when the peer is gone (the items are dropped).
    pub fn send(&self, items: &mut Vec<Item>) -> Result<(), ()> {
        self.tx.push(items.drain(..), Item::size)
    }

    /// Takes at most `max` items the peer sent, oldest first.
    pub fn take(&self, max: usize, each: impl FnMut(Item)) -> Taken {
        let (taken, want_room) = self.rx.take(max, Item::size, each);
        if want_room {
            // The peer waits for room in the queue we just took from.
            self.tx.ring(true);
        }
        taken
    }

    /// Items and bytes sent and not yet taken by the peer.
    pub fn queued(&self) -> (usize, usize) {
        self.tx.queued()
    }

    /// Asks the peer to ring our doorbell when it next takes messages (we wait for room).
    /// Locking the mailbox also makes [`queued`](Self::queued) current as of now: the
    /// caller checks for room once more before it sleeps.
    pub fn want_room(&self) {
        self.tx.lock().want_room = true;
    }

    /// Waits until the doorbell rings or `timeout` passes (`None`: no limit).
    pub fn wait(&self, timeout: Option<Duration>) {
        use ringwire_platform::readiness::{poll, timespec};
        use rustix::event::{PollFd, PollFlags};
        let timeout = timeout.map(timespec);
        let mut fds = [PollFd::new(&self.rx.bell, PollFlags::IN)];
        let _ = poll(&mut fds, timeout.as_ref());
    }
}

impl Drop for End {
    fn drop(&mut self) {
        self.tx.close(false);
        self.rx.close(true);
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for End {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.rx.bell.as_fd()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for End {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        self.rx.bell.as_socket()
    }
}

/// A bound name: its backlog of ends waiting to be accepted.
pub struct Listener {
    name: String,
    backlog: Arc<Mailbox<End>>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("name", &self.name)
            .finish()
    }
}

/// A bound name's entry: where connections go and what the listening socket tells them.
struct Bound {
    backlog: Arc<Mailbox<End>>,
    meta: Meta,
}

/// The names bound in this process.
static NAMES: Mutex<Option<HashMap<String, Bound>>> = Mutex::new(None);

fn names() -> MutexGuard<'static, Option<HashMap<String, Bound>>> {
    NAMES.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Listener {
    /// Binds `name` for a socket described by `meta`; a name bound already is `AddrInUse`.
    pub fn bind(name: &str, meta: Meta) -> io::Result<Listener> {
        let mut names = names();
        let names = names.get_or_insert_with(HashMap::new);
        if names.contains_key(name) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("inproc://{name} is already bound in this process"),
            ));
        }
        let backlog = Arc::new(Mailbox::new()?);
        names.insert(
            name.to_owned(),
            Bound {
                backlog: backlog.clone(),
                meta,
            },
        );
        Ok(Listener {
            name: name.to_owned(),
            backlog,
        })
    }

    /// Takes one pipe a connecting socket made, if any.
    pub fn accept(&self) -> Option<End> {
        let mut end = None;
        self.backlog.take(1, |_| 0, |e| end = Some(e));
        end
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(names) = names().as_mut()
            && names
                .get(&self.name)
                .is_some_and(|b| Arc::ptr_eq(&b.backlog, &self.backlog))
        {
            names.remove(&self.name);
        }
        // Pipes nobody accepted close: their connecting sockets see a disconnect.
        self.backlog.close(true);
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Listener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.backlog.bell.as_fd()
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Listener {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        self.backlog.bell.as_socket()
    }
}

/// Connects to `name` as a socket described by `meta`: a new pipe, whose other end waits
/// in the listener's backlog. A name nobody binds is `ConnectionRefused` (the caller
/// retries).
pub fn connect(name: &str, meta: Meta) -> io::Result<End> {
    let names = names();
    let Some(bound) = names.as_ref().and_then(|n| n.get(name)) else {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("inproc://{name} is not bound"),
        ));
    };
    let (up, down) = (Arc::new(Mailbox::new()?), Arc::new(Mailbox::new()?));
    let theirs = End {
        rx: up.clone(),
        tx: down.clone(),
        peer: meta,
    };
    let ours = End {
        rx: down,
        tx: up,
        peer: bound.meta.clone(),
    };
    let backlog = bound.backlog.clone();
    drop(names);
    if backlog.push(std::iter::once(theirs), |_| 0).is_err() {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("inproc://{name} was closed"),
        ));
    }
    Ok(ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kind: SocketType) -> Meta {
        Meta {
            kind,
            identity: Vec::new(),
        }
    }

    #[test]
    fn frames_move_through_a_pipe_without_a_copy_and_a_drop_closes_it() {
        let l = Listener::bind("pipe-unit-move", meta(SocketType::Pull)).unwrap();
        let push = connect("pipe-unit-move", meta(SocketType::Push)).unwrap();
        assert_eq!(push.peer.kind, SocketType::Pull);
        let pull = l.accept().expect("the pipe waits in the backlog");
        assert_eq!(pull.peer.kind, SocketType::Push);
        let frame = vec![1u8; 1000];
        let at = frame.as_ptr();
        push.send(&mut vec![Item::Message(vec![frame])]).unwrap();
        assert_eq!(push.queued(), (1, 1000));
        let mut got = Vec::new();
        let t = pull.take(8, |i| got.push(i));
        assert_eq!((t.items, t.closed), (1, false));
        let [Item::Message(frames)] = &got[..] else {
            panic!("{got:?}")
        };
        assert_eq!(frames[0].as_ptr(), at, "the same buffer arrives");
        assert_eq!(push.queued(), (0, 0));
        push.send(&mut vec![Item::Subscribe(b"late".to_vec())])
            .unwrap();
        drop(push);
        let mut got = Vec::new();
        let t = pull.take(8, |i| got.push(i));
        assert_eq!(
            (t.items, t.closed),
            (1, true),
            "sent before the close, then closed"
        );
        assert!(pull.send(&mut vec![Item::Cancel(Vec::new())]).is_err());
    }

    #[test]
    fn a_name_is_bound_once_and_an_unbound_name_is_refused() {
        let l = Listener::bind("pipe-unit-once", meta(SocketType::Pair)).unwrap();
        let e = Listener::bind("pipe-unit-once", meta(SocketType::Pair)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        let pending = connect("pipe-unit-once", meta(SocketType::Pair)).unwrap();
        drop(l);
        let e = connect("pipe-unit-once", meta(SocketType::Pair)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        let t = pending.take(1, drop);
        assert!(t.closed, "a pipe nobody accepted closes with its listener");
    }

    #[test]
    fn the_doorbell_rings_once_per_batch_and_stays_rung_while_items_are_left() {
        use rustix::event::{PollFd, PollFlags};
        let l = Listener::bind("pipe-unit-bell", meta(SocketType::Pull)).unwrap();
        let push = connect("pipe-unit-bell", meta(SocketType::Push)).unwrap();
        let pull = l.accept().unwrap();
        let rung = |e: &End| {
            let mut fds = [PollFd::new(e, PollFlags::IN)];
            let zero = ringwire_platform::readiness::timespec(Duration::ZERO);
            ringwire_platform::readiness::poll(&mut fds, Some(&zero)).unwrap() == 1
        };
        assert!(!rung(&pull));
        let mut batch: Vec<Item> = (0..3u8).map(|i| Item::Message(vec![vec![i]])).collect();
        push.send(&mut batch).unwrap();
        assert!(batch.is_empty() && rung(&pull), "a batch, one ring");
        assert_eq!(pull.take(2, drop).items, 2);
        assert!(rung(&pull), "one left: still readable");
        push.send(&mut vec![Item::Message(vec![vec![8]])]).unwrap();
        assert_eq!(pull.take(8, drop).items, 2);
        assert!(!rung(&pull), "emptied: drained");
        push.send(&mut vec![Item::Message(vec![vec![9]])]).unwrap();
        assert!(rung(&pull), "armed again: rung again");
        // A writer waiting for room is rung when the reader takes.
        push.want_room();
        assert!(!rung(&push));
        assert_eq!(pull.take(8, drop).items, 1);
        assert!(rung(&push), "the writer hears of the room");
    }
}
