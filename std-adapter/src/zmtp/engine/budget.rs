//! The socket's memory for its peers: what it holds ([`Engine::held_bytes`]) and the
//! budget for queued outgoing bytes (`Options::max_queued_bytes`) with its policy at the
//! limit (see `docs/zmtp.md`, "Byte budget").

use super::super::conn::Conn;
use super::super::outgoing::Outgoing;
use super::{Engine, Peer, Queued};

impl Engine {
    /// Bytes of memory the socket holds for its peers: connections (state and
    /// buffers, see [`Conn::held_bytes`]), subscription tables, the shared read
    /// buffer and the inbox.
    pub fn held_bytes(&self) -> usize {
        let conns: usize = self
            .conns
            .iter()
            .flatten()
            .map(|c| {
                let subs = c
                    .subs
                    .as_ref()
                    .map_or(0, |_| self.opts.max_subscription_bytes);
                c.held_bytes() + subs
            })
            .sum();
        conns + self.inbox.held_bytes() + self.rbuf.len()
    }

    /// Sends a reply (REP, ROUTER) to connection `id`; a reply that finds no room is
    /// dropped and counted (these sockets never block on one peer). Over the byte budget
    /// the peer is also closed when it holds more than half the budget: it does not read
    /// its replies, and everything queued for it is released.
    pub fn send_reply(&mut self, id: usize, prefix: &[&[u8]], mut frames: Outgoing<'_>) {
        let q = self.send_to(id, prefix, &mut frames);
        self.count_drop(q);
        if q == Queued::OverBudget {
            let half = self.opts.max_queued_bytes / 2;
            if let Some(c) = self.conns[id].as_mut()
                && c.pending_bytes() > half
                && c.dead.is_none()
            {
                log::warn!(
                    "{}: {} does not read its replies ({} bytes queued): closing",
                    c.endpoint,
                    Peer(c.peer.as_ref()),
                    c.pending_bytes()
                );
                c.dead = Some("peer does not read: its queue passed half the byte budget".into());
            }
        }
    }

    /// Counts a message [`send_to`](Self::send_to) refused and the caller drops.
    pub fn count_drop(&mut self, q: Queued) {
        match q {
            Queued::Yes => {}
            Queued::Full => self.stats.dropped_hwm += 1,
            Queued::OverBudget => self.stats.dropped_budget += 1,
        }
    }

    /// Bytes queued on every connection and not yet written.
    pub(super) fn queued_bytes(&self) -> usize {
        self.conns.iter().flatten().map(Conn::pending_bytes).sum()
    }

    /// Whether a message of `size` bytes fits the socket's byte budget now: always when
    /// nothing is queued (so any one message can go), else while the queued total with
    /// it stays within [`Options::max_queued_bytes`].
    pub(super) fn within_budget(&self, size: usize) -> bool {
        let total = self.queued_bytes();
        total == 0 || total.saturating_add(size) <= self.opts.max_queued_bytes
    }

    /// Whether connection `id` has room for a message of `size` bytes (or is gone).
    pub(super) fn has_room(&self, id: usize, size: usize) -> bool {
        let hwm = self.opts.send_hwm;
        self.conns[id].as_ref().is_none_or(|c| {
            c.dead.is_some() || ((hwm == 0 || c.queued() < hwm) && self.within_budget(size))
        })
    }
}
