//! The broker state machine: the worker registry, the request table (queued and in flight),
//! the service names, and the rules that tie them (see the module docs of [`super`]).
//!
//! Every table is a fixed array scanned linearly: the broker serves tens to a few hundred
//! peers, where a scan of a few cache lines beats any index, and nothing here allocates.
//! The queue order is each request's acceptance sequence number, so a request taken back
//! from a lost worker goes ahead of newer ones.

use super::route::{self, Candidate, RequestInfo};
use super::wire::{self, WorkerMessage};
use super::{
    Accepted, Action, Backend, BackendError, Config, FailReason, MAX_SERVICE, PeerId, Refusal,
    Reply, RequestId, Stats, WorkerProtocol,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WorkerState {
    Free = 0,
    Live = 1,
    /// Expired for missed heartbeats; [`Action::DropWorker`] not yet reported. Holds nothing.
    Expired = 2,
}

#[derive(Debug, Clone, Copy)]
struct Worker {
    state: WorkerState,
    id: PeerId,
    protocol: WorkerProtocol,
    service: u16,
    in_flight: u16,
    ready_seq: u64,
    last_heard: u64,
    missed: u32,
    next_beat: u64,
    dispatched: u64,
}

impl Worker {
    const FREE: Worker = Worker {
        state: WorkerState::Free,
        id: PeerId(0),
        protocol: WorkerProtocol::LoadBalancing,
        service: 0,
        in_flight: 0,
        ready_seq: 0,
        last_heard: 0,
        missed: 0,
        next_beat: 0,
        dispatched: 0,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Free,
    Pending,
    /// On this worker (table index).
    InFlight(u16),
    /// Over; [`Action::Fail`] not yet reported.
    Failed(FailReason),
    /// Its client is gone, its worker (table index) still holds it.
    Orphan(u16),
}

impl Slot {
    /// Index into [`Broker::slots`].
    fn kind(self) -> usize {
        match self {
            Slot::Free => 0,
            Slot::Pending => 1,
            Slot::InFlight(_) => 2,
            Slot::Failed(_) => 3,
            Slot::Orphan(_) => 4,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Request {
    slot: Slot,
    generation: u32,
    seq: u64,
    client: PeerId,
    service: u16,
    attempts: u8,
    queued_at: u64,
}

impl Request {
    const FREE: Request = Request {
        slot: Slot::Free,
        generation: 0,
        seq: 0,
        client: PeerId(0),
        service: 0,
        attempts: 0,
        queued_at: 0,
    };
}

/// A service name and how many workers and requests name it (free at zero and zero).
#[derive(Debug, Clone, Copy)]
struct Service {
    len: u8,
    name: [u8; MAX_SERVICE],
    workers: u16,
    requests: u32,
}

impl Service {
    const FREE: Service = Service {
        len: 0,
        name: [0; MAX_SERVICE],
        workers: 0,
        requests: 0,
    };

    fn name(&self) -> &[u8] {
        &self.name[..usize::from(self.len)]
    }

    fn is_free(&self) -> bool {
        self.workers == 0 && self.requests == 0
    }
}

/// Where an accepted request is ([`Broker::request_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RequestState {
    /// Waiting for a worker.
    Queued,
    /// Sent to this worker, not answered yet.
    InFlight(PeerId),
    /// Failed; the [`Action::Fail`] is next.
    Failing,
    /// Its client is gone; the worker still has it.
    Orphaned,
}

/// A registered worker ([`Broker::worker`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WorkerInfo {
    /// Its protocol.
    pub protocol: WorkerProtocol,
    /// Requests it holds.
    pub in_flight: u16,
    /// Heartbeats it has missed in a row.
    pub missed: u32,
    /// When it was last heard from.
    pub last_heard: u64,
    /// Requests sent to it so far.
    pub dispatched: u64,
}

/// The broker: `W` workers, `R` requests, `S` service names at most.
#[derive(Debug, Clone)]
pub struct Broker<const W: usize, const R: usize, const S: usize> {
    config: Config,
    workers: [Worker; W],
    requests: [Request; R],
    services: [Service; S],
    stats: Stats,
    seq: u64,
    rr_last: usize,
    /// How many requests are in each [`Slot`] kind, and workers in each state, so that
    /// `poll` skips the scans that would find nothing.
    slots: [usize; 5],
    states: [usize; 3],
}

impl<const W: usize, const R: usize, const S: usize> Broker<W, R, S> {
    const SIZES_FIT: () = assert!(
        W <= u16::MAX as usize && S <= u16::MAX as usize && R <= u32::MAX as usize,
        "broker tables are indexed by u16 (workers, services) and u32 (requests)"
    );

    /// An empty broker.
    pub const fn new(config: Config) -> Self {
        let () = Self::SIZES_FIT;
        Broker {
            config,
            workers: [Worker::FREE; W],
            requests: [Request::FREE; R],
            services: [Service::FREE; S],
            stats: Stats {
                requests: 0,
                refused: 0,
                dispatched: 0,
                replies: 0,
                partials: 0,
                requeued: 0,
                failed: 0,
                cancelled: 0,
                late_replies: 0,
                orphan_replies: 0,
                malformed: 0,
                workers_registered: 0,
                workers_refused: 0,
                workers_expired: 0,
                workers_lost: 0,
                beats_missed: 0,
                heartbeats_sent: 0,
            },
            seq: 0,
            rr_last: usize::MAX,
            slots: [R, 0, 0, 0, 0],
            states: [W, 0, 0],
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Workers registered (live).
    pub fn worker_count(&self) -> usize {
        self.states[WorkerState::Live as usize]
    }

    /// Requests in the table (queued, in flight, failing or orphaned).
    pub fn request_count(&self) -> usize {
        R - self.slots[Slot::Free.kind()]
    }

    /// Requests waiting for a worker.
    pub fn queued(&self) -> usize {
        self.slots[Slot::Pending.kind()]
    }

    /// Requests sent to a worker and not answered yet (their clients still connected).
    pub fn in_flight(&self) -> usize {
        self.slots[Slot::InFlight(0).kind()]
    }

    fn set_slot(&mut self, index: usize, new: Slot) {
        let r = &mut self.requests[index];
        self.slots[r.slot.kind()] -= 1;
        self.slots[new.kind()] += 1;
        r.slot = new;
    }

    fn set_state(&mut self, index: usize, new: WorkerState) {
        let w = &mut self.workers[index];
        self.states[w.state as usize] -= 1;
        self.states[new as usize] += 1;
        w.state = new;
    }

    /// A live worker's state.
    pub fn worker(&self, id: PeerId) -> Option<WorkerInfo> {
        let w = &self.workers[self.find_worker(id)?];
        (w.state == WorkerState::Live).then_some(WorkerInfo {
            protocol: w.protocol,
            in_flight: w.in_flight,
            missed: w.missed,
            last_heard: w.last_heard,
            dispatched: w.dispatched,
        })
    }

    /// Where a request is, `None` once it is over.
    pub fn request_state(&self, id: RequestId) -> Option<RequestState> {
        let r = &self.requests[self.lookup(id)?];
        Some(match r.slot {
            Slot::Free => return None,
            Slot::Pending => RequestState::Queued,
            Slot::InFlight(w) => RequestState::InFlight(self.workers[usize::from(w)].id),
            Slot::Failed(_) => RequestState::Failing,
            Slot::Orphan(_) => RequestState::Orphaned,
        })
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn find_worker(&self, id: PeerId) -> Option<usize> {
        self.workers
            .iter()
            .position(|w| w.state != WorkerState::Free && w.id == id)
    }

    fn lookup(&self, id: RequestId) -> Option<usize> {
        let index = usize::try_from(id.0 & 0xffff_ffff).ok()?;
        let r = self.requests.get(index)?;
        (r.slot != Slot::Free && u64::from(r.generation) == id.0 >> 32).then_some(index)
    }

    fn id_of(&self, index: usize) -> RequestId {
        RequestId(u64::from(self.requests[index].generation) << 32 | index as u64)
    }

    /// The service entry named `name`, claiming a free one if there is none.
    fn intern(&mut self, name: &[u8]) -> Option<u16> {
        let len = u8::try_from(name.len()).ok()?;
        let index = match self.services.iter().position(|s| s.name() == name) {
            Some(i) => i,
            None => {
                let i = self.services.iter().position(Service::is_free)?;
                let s = &mut self.services[i];
                s.len = len;
                s.name[..name.len()].copy_from_slice(name);
                i
            }
        };
        u16::try_from(index).ok()
    }

    fn free_request(&mut self, index: usize) {
        let service = &mut self.services[usize::from(self.requests[index].service)];
        service.requests = service.requests.saturating_sub(1);
        self.set_slot(index, Slot::Free);
        let r = &mut self.requests[index];
        r.generation = r.generation.wrapping_add(1);
    }

    /// A message from the worker at `index` arrived at `now`: it is alive.
    fn touch(&mut self, index: usize, now: u64) {
        let w = &mut self.workers[index];
        w.last_heard = w.last_heard.max(now);
        w.missed = 0;
    }

    fn register(
        &mut self,
        id: PeerId,
        protocol: WorkerProtocol,
        service: &[u8],
        now: u64,
    ) -> Result<(), BackendError> {
        let slot = self.find_worker(id).or_else(|| {
            self.workers
                .iter()
                .position(|w| w.state == WorkerState::Free)
        });
        let (Some(index), Some(service)) = (slot, self.intern(service)) else {
            self.stats.workers_refused += 1;
            return Err(BackendError::Refused(protocol));
        };
        self.services[usize::from(service)].workers += 1;
        let ready_seq = self.next_seq();
        self.workers[index] = Worker {
            state: self.workers[index].state,
            id,
            protocol,
            service,
            in_flight: 0,
            ready_seq,
            last_heard: now,
            missed: 0,
            next_beat: now.saturating_add(self.config.heartbeat.interval_ms),
            dispatched: 0,
        };
        self.set_state(index, WorkerState::Live);
        self.stats.workers_registered += 1;
        Ok(())
    }

    /// Forgets the worker at `index`, taking back what it holds: each in-flight request goes
    /// back to the queue, or fails once it has had its attempts; orphans end.
    fn remove_worker(&mut self, index: usize, expired: bool, now: u64) {
        if self.workers[index].state != WorkerState::Live {
            self.set_state(index, WorkerState::Free);
            return;
        }
        let max_attempts = self.config.max_attempts.max(1);
        let holds = self.workers[index].in_flight > 0 || self.slots[Slot::Orphan(0).kind()] > 0;
        for i in 0..if holds { R } else { 0 } {
            let r = &mut self.requests[i];
            match r.slot {
                Slot::InFlight(w) if usize::from(w) == index => {
                    if r.attempts >= max_attempts {
                        self.set_slot(i, Slot::Failed(FailReason::WorkerLost));
                    } else {
                        r.queued_at = now;
                        self.set_slot(i, Slot::Pending);
                        self.stats.requeued += 1;
                    }
                }
                Slot::Orphan(w) if usize::from(w) == index => self.free_request(i),
                _ => {}
            }
        }
        let w = &mut self.workers[index];
        let service = &mut self.services[usize::from(w.service)];
        service.workers = service.workers.saturating_sub(1);
        w.in_flight = 0;
        if expired {
            self.set_state(index, WorkerState::Expired);
            self.stats.workers_expired += 1;
        } else {
            self.set_state(index, WorkerState::Free);
            self.stats.workers_lost += 1;
        }
    }

    /// A message arrived from client `client` at `now` (the frames after its routing id).
    /// On success keep the body and envelope under the returned id; on
    /// [`Refusal::Malformed`] drop the message; on any other refusal answer the client with
    /// an error at once (the request was not taken).
    pub fn on_frontend<'a, F: AsRef<[u8]>>(
        &mut self,
        client: PeerId,
        frames: &'a [F],
        now: u64,
    ) -> Result<Accepted<'a>, Refusal> {
        let request = wire::decode_client_message(frames).map_err(|e| {
            self.stats.malformed += 1;
            Refusal::Malformed(e)
        })?;
        let refusal = self.admit(client, request.service, now);
        let index = refusal.inspect_err(|_| self.stats.refused += 1)?;
        self.stats.requests += 1;
        Ok(Accepted {
            id: self.id_of(index),
            request,
        })
    }

    fn admit(&mut self, client: PeerId, service: &[u8], now: u64) -> Result<usize, Refusal> {
        // One pass: the client's count and the first free slot.
        let (mut held, mut free) = (0, None);
        for (i, r) in self.requests.iter().enumerate() {
            match r.slot {
                Slot::Free => free = free.or(Some(i)),
                Slot::Orphan(_) => {}
                _ => held += usize::from(r.client == client),
            }
        }
        if held >= usize::from(self.config.max_per_client) {
            return Err(Refusal::ClientLimit);
        }
        let index = free.ok_or(Refusal::TableFull)?;
        let service = self.intern(service).ok_or(Refusal::ServiceUnavailable)?;
        self.services[usize::from(service)].requests += 1;
        let seq = self.next_seq();
        self.set_slot(index, Slot::Pending);
        let r = &mut self.requests[index];
        r.seq = seq;
        r.client = client;
        r.service = service;
        r.attempts = 0;
        r.queued_at = now;
        Ok(index)
    }

    /// A message arrived from worker `worker` at `now` (the frames after its routing id).
    pub fn on_backend<F: AsRef<[u8]>>(
        &mut self,
        worker: PeerId,
        frames: &[F],
        now: u64,
    ) -> Result<Backend, BackendError> {
        let msg = wire::decode_worker_message(frames).map_err(|e| {
            self.stats.malformed += 1;
            BackendError::Malformed(e)
        })?;
        let protocol = msg.protocol();
        let mdp = matches!(protocol, WorkerProtocol::Majordomo(_));
        let known = self.find_worker(worker);
        let live = known.filter(|&i| self.workers[i].state == WorkerState::Live);
        if let Some(i) = live {
            self.touch(i, now);
        }
        match msg {
            WorkerMessage::Ready { service, .. } => {
                if let Some(i) = live {
                    // MDP forbids a second READY; the others send one after reconnecting, so
                    // whatever the worker held is lost with its old conversation.
                    self.remove_worker(i, false, now);
                    if mdp && matches!(self.workers[i].protocol, WorkerProtocol::Majordomo(_)) {
                        return Ok(Backend::SendDisconnect);
                    }
                }
                self.register(worker, protocol, service, now)?;
                Ok(Backend::Ready)
            }
            WorkerMessage::Heartbeat { .. } => match live {
                Some(_) => Ok(Backend::Heartbeat),
                None => self.unknown_worker(known, worker, protocol, now),
            },
            WorkerMessage::Reply {
                token,
                body_from,
                last,
                ..
            } => {
                let Some(w) = live else {
                    self.stats.late_replies += 1;
                    return match self.unknown_worker(known, worker, protocol, now) {
                        Ok(Backend::SendDisconnect) => Ok(Backend::SendDisconnect),
                        _ => Ok(Backend::LateReply),
                    };
                };
                Ok(self.on_reply(w, token, body_from, last))
            }
            WorkerMessage::Disconnect { .. } => {
                if let Some(i) = known {
                    self.remove_worker(i, false, now);
                }
                Ok(Backend::Gone)
            }
            WorkerMessage::Unexpected { .. } => {
                if let Some(i) = known {
                    self.remove_worker(i, false, now);
                }
                Ok(Backend::SendDisconnect)
            }
        }
    }

    /// A heartbeat or reply from a worker that is not registered (never was, or expired):
    /// a Majordomo worker is told to DISCONNECT (and re-register); a Paranoid Pirate or
    /// load-balancing worker is taken as ready, as the guide's queues do.
    fn unknown_worker(
        &mut self,
        known: Option<usize>,
        worker: PeerId,
        protocol: WorkerProtocol,
        now: u64,
    ) -> Result<Backend, BackendError> {
        if matches!(protocol, WorkerProtocol::Majordomo(_)) {
            if let Some(i) = known {
                self.set_state(i, WorkerState::Free);
            }
            return Ok(Backend::SendDisconnect);
        }
        self.register(worker, protocol, &[], now)?;
        Ok(Backend::Ready)
    }

    fn on_reply(&mut self, w: usize, token: &[u8], body_from: usize, last: bool) -> Backend {
        let found = RequestId::from_token(token).and_then(|id| Some((id, self.lookup(id)?)));
        let Some((id, index)) = found else {
            self.stats.late_replies += 1;
            return Backend::LateReply;
        };
        let r = self.requests[index];
        let orphan = match r.slot {
            Slot::InFlight(x) if usize::from(x) == w => false,
            Slot::Orphan(x) if usize::from(x) == w => true,
            _ => {
                self.stats.late_replies += 1;
                return Backend::LateReply;
            }
        };
        if last {
            self.free_request(index);
            let ready_seq = self.next_seq();
            let worker = &mut self.workers[w];
            worker.in_flight = worker.in_flight.saturating_sub(1);
            worker.ready_seq = ready_seq;
        }
        if orphan {
            self.stats.orphan_replies += 1;
            return Backend::OrphanReply;
        }
        if last {
            self.stats.replies += 1;
        } else {
            self.stats.partials += 1;
        }
        Backend::Reply(Reply {
            request: id,
            client: r.client,
            body_from,
            last,
        })
    }

    /// The worker's connection closed (or the caller dropped it): what it held is taken back.
    /// Returns whether the worker was known.
    pub fn on_worker_disconnect(&mut self, worker: PeerId, now: u64) -> bool {
        let Some(i) = self.find_worker(worker) else {
            return false;
        };
        self.remove_worker(i, false, now);
        true
    }

    /// The client's connection closed: its queued requests end, and the replies to those in
    /// flight will be dropped. Returns how many requests ended.
    pub fn on_client_disconnect(&mut self, client: PeerId) -> usize {
        let mut ended = 0;
        for i in 0..R {
            let r = &mut self.requests[i];
            if r.client != client {
                continue;
            }
            match r.slot {
                Slot::Pending | Slot::Failed(_) => self.free_request(i),
                Slot::InFlight(w) => self.set_slot(i, Slot::Orphan(w)),
                Slot::Free | Slot::Orphan(_) => continue,
            }
            ended += 1;
        }
        self.stats.cancelled += ended as u64;
        ended
    }

    /// Checks the clock: counts the beats each heartbeating worker has missed, expires those
    /// at [`Liveness::max_missed`](super::Liveness::max_missed), and fails requests queued
    /// longer than [`Config::queue_timeout_ms`]. Then [`poll`](Self::poll).
    pub fn on_tick(&mut self, now: u64) {
        let hb = self.config.heartbeat;
        for i in 0..W {
            let w = &mut self.workers[i];
            if w.state != WorkerState::Live || !w.protocol.heartbeats() || hb.timeout_ms == 0 {
                continue;
            }
            let missed = now.saturating_sub(w.last_heard) / hb.timeout_ms;
            let missed = u32::try_from(missed).unwrap_or(u32::MAX);
            if missed > w.missed {
                self.stats.beats_missed += u64::from(missed - w.missed);
                w.missed = missed;
            }
            if w.missed >= hb.max_missed.max(1) {
                self.remove_worker(i, true, now);
            }
        }
        let timeout = self.config.queue_timeout_ms;
        if timeout != 0 && self.queued() > 0 {
            for i in 0..R {
                let r = &self.requests[i];
                if r.slot == Slot::Pending && now.saturating_sub(r.queued_at) >= timeout {
                    self.set_slot(i, Slot::Failed(FailReason::NoWorker));
                }
            }
        }
    }

    /// When [`on_tick`](Self::on_tick) or [`poll`](Self::poll) next has something to do by
    /// the clock alone (a heartbeat to send, a beat to count, a queued request to expire).
    pub fn next_deadline(&self) -> Option<u64> {
        let hb = self.config.heartbeat;
        let beats = self
            .workers
            .iter()
            .filter(|w| w.state == WorkerState::Live && w.protocol.heartbeats())
            .flat_map(|w| {
                let send = (hb.interval_ms != 0).then_some(w.next_beat);
                let miss = (hb.timeout_ms != 0).then(|| {
                    let n = u64::from(w.missed).saturating_add(1);
                    w.last_heard.saturating_add(hb.timeout_ms.saturating_mul(n))
                });
                send.into_iter().chain(miss)
            });
        let timeout = self.config.queue_timeout_ms;
        let queued = self
            .requests
            .iter()
            .filter(|r| timeout != 0 && r.slot == Slot::Pending)
            .map(|r| r.queued_at.saturating_add(timeout));
        beats.chain(queued).min()
    }

    /// The next thing to do at `now`, or `None`. Call it until `None` after every `on_*`.
    /// Nothing is queued inside: each call reads the tables, so this cannot overflow.
    pub fn poll(&mut self, now: u64) -> Option<Action> {
        let expired = self.states[WorkerState::Expired as usize] > 0;
        if let Some(i) = self
            .workers
            .iter()
            .position(|w| expired && w.state == WorkerState::Expired)
        {
            self.set_state(i, WorkerState::Free);
            let w = &self.workers[i];
            return Some(Action::DropWorker {
                worker: w.id,
                protocol: w.protocol,
            });
        }
        let failing = self.slots[Slot::Failed(FailReason::NoWorker).kind()] > 0;
        for i in 0..if failing { R } else { 0 } {
            if let Slot::Failed(reason) = self.requests[i].slot {
                let (request, client) = (self.id_of(i), self.requests[i].client);
                self.free_request(i);
                self.stats.failed += 1;
                return Some(Action::Fail {
                    request,
                    client,
                    reason,
                });
            }
        }
        if let Some(action) = self.dispatch(now) {
            return Some(action);
        }
        let interval = self.config.heartbeat.interval_ms;
        if interval == 0 {
            return None;
        }
        let w = self.workers.iter_mut().find(|w| {
            w.state == WorkerState::Live && w.protocol.heartbeats() && now >= w.next_beat
        })?;
        w.next_beat = now.saturating_add(interval);
        self.stats.heartbeats_sent += 1;
        Some(Action::Heartbeat {
            worker: w.id,
            protocol: w.protocol,
        })
    }

    /// The worker (table index) the strategy picks for the request at `index`.
    fn choose_for(&self, index: usize, max: u16) -> Option<usize> {
        let r = self.requests[index];
        let info = RequestInfo {
            id: self.id_of(index),
            client: r.client,
            service: self.services[usize::from(r.service)].name(),
            attempts: r.attempts,
        };
        let candidates = self.workers.iter().enumerate().filter_map(move |(i, w)| {
            (w.state == WorkerState::Live && w.service == r.service && w.in_flight < max).then_some(
                (
                    i,
                    Candidate {
                        worker: w.id,
                        in_flight: w.in_flight,
                        ready_seq: w.ready_seq,
                        dispatched: w.dispatched,
                        last_heard: w.last_heard,
                    },
                ),
            )
        });
        route::choose(self.config.strategy, &info, candidates, self.rr_last)
    }

    /// [`poll`](Self::poll) as an iterator: every action due at `now`.
    pub fn actions(&mut self, now: u64) -> impl Iterator<Item = Action> + '_ {
        core::iter::from_fn(move || self.poll(now))
    }

    /// Sends the oldest queued request that a worker of its service can take.
    fn dispatch(&mut self, now: u64) -> Option<Action> {
        if self.queued() == 0 {
            return None;
        }
        let max = self.config.max_in_flight.max(1);
        let mut open = [false; S];
        let mut any = false;
        for w in &self.workers {
            if w.state == WorkerState::Live && w.in_flight < max {
                open[usize::from(w.service)] = true;
                any = true;
            }
        }
        if !any {
            return None;
        }
        // Oldest first; a request the strategy declines (only a custom one does) is skipped.
        let mut after = 0;
        let (index, chosen) = loop {
            let (index, seq) = self
                .requests
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    r.slot == Slot::Pending && r.seq > after && open[usize::from(r.service)]
                })
                .min_by_key(|(_, r)| r.seq)
                .map(|(i, r)| (i, r.seq))?;
            if let Some(chosen) = self.choose_for(index, max) {
                break (index, chosen);
            }
            after = seq;
        };
        let request = self.id_of(index);
        let interval = self.config.heartbeat.interval_ms;
        let w = &mut self.workers[chosen];
        w.in_flight += 1;
        w.dispatched += 1;
        // Anything sent counts as a heartbeat (spec 18).
        w.next_beat = now.saturating_add(interval);
        let (worker, protocol) = (w.id, w.protocol);
        self.set_slot(index, Slot::InFlight(chosen as u16));
        let r = &mut self.requests[index];
        r.attempts = r.attempts.saturating_add(1);
        self.rr_last = chosen;
        self.stats.dispatched += 1;
        Some(Action::Forward {
            request,
            worker,
            protocol,
        })
    }
}
