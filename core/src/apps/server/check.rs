//! The registry's invariants, checked by walking every table (tests and fuzzing).

use super::{ConnSlot, NONE, NameSlot, Registry, SubSlot};

impl<C, N, S> Registry<C, N, S>
where
    C: AsRef<[ConnSlot]> + AsMut<[ConnSlot]>,
    N: AsRef<[NameSlot]> + AsMut<[NameSlot]>,
    S: AsRef<[SubSlot]> + AsMut<[SubSlot]>,
{
    /// Checks the tables' invariants (for tests and fuzzing; it walks every table): counts
    /// within capacities and equal to the entries in use; every subscription on both its
    /// connection's and its channel's list, once, and the lists' lengths equal to their
    /// counts; the free list holds exactly the free entries; no connection over
    /// [`Limits::max_subscriptions`](super::Limits::max_subscriptions); no (connection, channel) twice; every name findable.
    pub fn check(&self) -> Result<(), &'static str> {
        let (c, n, s) = (self.c(), self.n(), self.s());
        if c.iter().filter(|x| x.number != 0).count() != self.conn_count {
            return Err("connection count");
        }
        if n.iter().filter(|x| x.len != 0).count() != self.name_count {
            return Err("name count");
        }
        if s.iter().filter(|x| x.conn != NONE).count() != self.sub_count {
            return Err("subscription count");
        }
        let mut free = 0usize;
        let mut at = self.free_sub;
        while at != NONE {
            let x = s.get(at as usize).ok_or("free list runs off the table")?;
            if x.conn != NONE {
                return Err("a used entry on the free list");
            }
            free += 1;
            if free > s.len() {
                return Err("free list loops");
            }
            at = x.chan_next;
        }
        if free + self.sub_count != s.len() {
            return Err("free list length");
        }
        for (i, e) in n.iter().enumerate() {
            if e.len == 0 {
                continue;
            }
            if self.find_name(e.parent, e.name()) != Ok(i) {
                return Err("a name not found where it is");
            }
            if e.parent != NONE && n.get(e.parent as usize).is_none_or(|p| p.len == 0) {
                return Err("a channel of no application");
            }
            let (mut len, mut prev, mut at) = (0usize, NONE, e.head);
            while at != NONE {
                let x = s
                    .get(at as usize)
                    .ok_or("channel list runs off the table")?;
                if x.channel != i as u32 || x.chan_prev != prev || x.conn == NONE {
                    return Err("channel list link");
                }
                len += 1;
                if len > s.len() {
                    return Err("channel list loops");
                }
                (prev, at) = (at, x.chan_next);
            }
            if e.tail != prev || len != e.subs as usize {
                return Err("channel list tail or length");
            }
        }
        for (i, x) in c.iter().enumerate() {
            if x.number == 0 {
                if x.head != NONE {
                    return Err("a free connection with subscriptions");
                }
                continue;
            }
            if x.subs as usize > self.limits.max_subscriptions {
                return Err("a connection over its subscription limit");
            }
            let (mut len, mut prev, mut at) = (0usize, NONE, x.head);
            while at != NONE {
                let y = s
                    .get(at as usize)
                    .ok_or("connection list runs off the table")?;
                if y.conn != i as u32 || y.conn_prev != prev {
                    return Err("connection list link");
                }
                if !n
                    .get(y.channel as usize)
                    .is_some_and(|e| e.len != 0 && e.parent != NONE)
                {
                    return Err("a subscription to no channel");
                }
                // The same channel further on the list would be a duplicate.
                let mut later = y.conn_next;
                while let Some(z) = s.get(later as usize) {
                    if z.channel == y.channel {
                        return Err("a connection subscribed twice");
                    }
                    later = z.conn_next;
                }
                len += 1;
                if len > s.len() {
                    return Err("connection list loops");
                }
                (prev, at) = (at, y.conn_next);
            }
            if len != x.subs as usize {
                return Err("connection list length");
            }
        }
        for x in s.iter().filter(|x| x.conn != NONE) {
            if c.get(x.conn as usize).is_none_or(|k| k.number == 0) {
                return Err("a subscription of no connection");
            }
        }
        Ok(())
    }
}
