//! ZMTP 3.1 heartbeats: send a PING after every `interval` ms of the peer's silence, and declare the peer dead when nothing at all arrives for `timeout`
//! ms (or for the TTL the peer asked for in its PINGs, if that is shorter). Any received
//! bytes count as life, as in libzmq.

/// What the heartbeat wants done at a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeartbeatAction {
    /// Nothing to do yet.
    Idle,
    /// Send a PING (carrying [`Heartbeat::ttl_ds`]).
    SendPing,
    /// The peer has been silent too long: close the connection.
    TimedOut,
}

/// Heartbeat timers for one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    interval: u64,
    timeout: u64,
    last_rx: u64,
    last_ping: u64,
    peer_ttl: Option<u64>,
}

impl Heartbeat {
    /// Timers started at `now`: ping after `interval_ms` of peer silence, give up after
    /// `timeout_ms`. An `interval_ms` of 0 disables pings (the timeout still applies
    /// unless it is 0 too).
    pub const fn new(interval_ms: u64, timeout_ms: u64, now: u64) -> Self {
        Heartbeat {
            interval: interval_ms,
            timeout: timeout_ms,
            last_rx: now,
            last_ping: now,
            peer_ttl: None,
        }
    }

    /// The TTL to put in our PINGs, in deciseconds (our timeout, saturated).
    pub fn ttl_ds(&self) -> u16 {
        u16::try_from(self.timeout / 100).unwrap_or(u16::MAX)
    }

    /// Bytes arrived from the peer at `now`.
    pub fn on_received(&mut self, now: u64) {
        self.last_rx = self.last_rx.max(now);
    }

    /// The peer sent a PING with `ttl_ds` (0 = no TTL).
    pub fn on_peer_ping(&mut self, ttl_ds: u16, now: u64) {
        self.on_received(now);
        self.peer_ttl = (ttl_ds != 0).then_some(u64::from(ttl_ds) * 100);
    }

    /// The effective silence limit in ms (0 = none).
    fn limit(&self) -> u64 {
        match (self.timeout, self.peer_ttl) {
            (0, Some(t)) => t,
            (t, Some(p)) => t.min(p),
            (t, None) => t,
        }
    }

    /// Checks the timers at `now`.
    pub fn on_tick(&mut self, now: u64) -> HeartbeatAction {
        let limit = self.limit();
        let silent = now.saturating_sub(self.last_rx);
        if limit != 0 && silent >= limit {
            return HeartbeatAction::TimedOut;
        }
        if self.interval != 0
            && silent >= self.interval
            && now.saturating_sub(self.last_ping) >= self.interval
        {
            self.last_ping = now;
            return HeartbeatAction::SendPing;
        }
        HeartbeatAction::Idle
    }

    /// The next tick at which [`on_tick`](Self::on_tick) may act, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        let limit = self.limit();
        let dead = (limit != 0).then(|| self.last_rx.saturating_add(limit));
        let ping = (self.interval != 0).then(|| {
            self.last_rx
                .max(self.last_ping)
                .saturating_add(self.interval)
        });
        match (dead, ping) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pings_on_silence_then_times_out() {
        let mut h = Heartbeat::new(100, 300, 0);
        assert_eq!(h.on_tick(50), HeartbeatAction::Idle);
        assert_eq!(h.next_deadline(), Some(100));
        assert_eq!(h.on_tick(100), HeartbeatAction::SendPing);
        assert_eq!(h.on_tick(150), HeartbeatAction::Idle);
        assert_eq!(h.on_tick(200), HeartbeatAction::SendPing);
        h.on_received(250);
        assert_eq!(h.on_tick(300), HeartbeatAction::Idle);
        assert_eq!(h.on_tick(350), HeartbeatAction::SendPing);
        assert_eq!(h.on_tick(450), HeartbeatAction::SendPing);
        assert_eq!(h.on_tick(549), HeartbeatAction::Idle);
        assert_eq!(h.on_tick(550), HeartbeatAction::TimedOut);
        assert_eq!(h.ttl_ds(), 3);
    }

    #[test]
    fn peer_ttl_shortens_the_timeout() {
        let mut h = Heartbeat::new(0, 0, 0);
        assert_eq!(h.on_tick(1_000_000), HeartbeatAction::Idle);
        assert_eq!(h.next_deadline(), None);
        h.on_peer_ping(5, 1000);
        assert_eq!(h.on_tick(1499), HeartbeatAction::Idle);
        assert_eq!(h.on_tick(1500), HeartbeatAction::TimedOut);
    }
}
