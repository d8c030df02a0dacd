//! Routing strategies: which of the workers that could take a request gets it.
//!
//! Only workers of the request's service that are live and below the per-worker in-flight
//! limit are candidates (that is the "by service name" routing, and it always applies: a
//! plain request's service is the empty name, served by load-balancing and Paranoid Pirate
//! workers). Among them:
//! - [`Strategy::LeastRecentlyReady`] (the default, the guide's LRU queue): the worker that
//!   became ready longest ago;
//! - [`Strategy::RoundRobin`]: the next candidate after the last one chosen, in table order;
//! - [`Strategy::LeastLoaded`]: the fewest requests in flight, ties to the least recently
//!   ready (it differs from the default only when workers take more than one request at once);
//! - [`Strategy::Custom`]: a function of the caller's.

use super::{PeerId, RequestId};

/// A worker that could take the request, as a [`RouteFn`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The worker.
    pub worker: PeerId,
    /// Requests it holds now.
    pub in_flight: u16,
    /// When it last became ready, as a broker-wide sequence number (smaller = longer ago).
    pub ready_seq: u64,
    /// Requests sent to it so far.
    pub dispatched: u64,
    /// When it was last heard from.
    pub last_heard: u64,
}

/// The request being routed, as a [`RouteFn`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestInfo<'a> {
    /// The request.
    pub id: RequestId,
    /// The client that sent it.
    pub client: PeerId,
    /// Its service name.
    pub service: &'a [u8],
    /// How many times it was sent to a worker before (0 the first time).
    pub attempts: u8,
}

/// A caller's routing function: returns the chosen candidate's worker, or `None` to leave the
/// request queued (it is offered again at the next input). A worker that is not among the
/// candidates counts as `None`.
pub type RouteFn = fn(&RequestInfo<'_>, &mut dyn Iterator<Item = Candidate>) -> Option<PeerId>;

/// How a request's worker is chosen among the candidates.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub enum Strategy {
    /// The worker that became ready longest ago.
    #[default]
    LeastRecentlyReady,
    /// The next worker in table order after the last one chosen.
    RoundRobin,
    /// The fewest requests in flight (ties: least recently ready).
    LeastLoaded,
    /// The caller's function.
    Custom(RouteFn),
}

/// Picks among `candidates` (index, candidate); `rr_after` is the table index chosen last.
pub(super) fn choose(
    strategy: Strategy,
    request: &RequestInfo<'_>,
    candidates: impl Iterator<Item = (usize, Candidate)> + Clone,
    rr_after: usize,
) -> Option<usize> {
    match strategy {
        Strategy::LeastRecentlyReady => candidates.min_by_key(|(_, c)| c.ready_seq).map(|(i, _)| i),
        Strategy::LeastLoaded => candidates
            .min_by_key(|(_, c)| (c.in_flight, c.ready_seq))
            .map(|(i, _)| i),
        Strategy::RoundRobin => {
            let after = candidates.clone().find(|(i, _)| *i > rr_after);
            after.or_else(|| candidates.clone().next()).map(|(i, _)| i)
        }
        Strategy::Custom(f) => {
            let mut views = candidates.clone().map(|(_, c)| c);
            let chosen = f(request, &mut views)?;
            candidates
                .filter(|(_, c)| c.worker == chosen)
                .map(|(i, _)| i)
                .next()
        }
    }
}
