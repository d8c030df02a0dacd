//! Attaching a socket to its segment: endpoint parsing, `bind` (create, or reclaim a segment
//! whose creator died), `connect` (open, waiting a bounded time for the creator), and the
//! liveness checks that let a socket notice its peer's segment was replaced.
//!
//! A pattern keeps one or more core segments in one OS segment ([`RingSet`]). The creator's pid
//! and start time sit in the first core segment's header; a segment whose creator is dead is
//! garbage that the next `bind` replaces, and that connected sockets leave for the replacement.

use std::time::{Duration, Instant};

use ringwire_core::segment::{Creator, OpenError, RingConfig};
use ringwire_platform::cleanup::{self, Status};
use ringwire_platform::segment::{CreateMode, CreateOptions, Segment, SegmentError};
use ringwire_platform::{ProcessStamp, SegmentName, SharedSegment};

use super::options::ShmOptions;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};

/// The rings a pattern keeps in one OS segment.
pub(crate) trait RingSet: Sized {
    /// Message type name recorded in the header (tells the patterns apart).
    const TYPE_NAME: &'static str;
    /// What the pattern is called in error messages.
    const PATTERN: &'static str;
    /// Slots per ring when the options leave `slot_count` unset.
    const DEFAULT_SLOTS: usize = 64;
    /// Bytes the OS segment needs for `config`.
    fn segment_len(config: &RingConfig) -> Option<usize>;
    /// Lays the rings out in a fresh segment.
    fn create(seg: SharedSegment, config: RingConfig, creator: Creator) -> Result<Self>;
    /// Opens the rings of an existing segment.
    fn open(seg: SharedSegment, config: RingConfig) -> std::result::Result<Self, OpenError>;
}

/// The segment name of an `shm://name` endpoint.
pub(crate) fn parse_endpoint(endpoint: &str) -> Result<SegmentName> {
    match endpoint.parse::<Endpoint>()? {
        Endpoint::Shm(name) => Ok(SegmentName::new(&name).map_err(SegmentError::from)?),
        _ => Err(Error::Unsupported(
            "shm sockets take shm://name endpoints; use the socket transport for others",
        )),
    }
}

/// The ring configuration `options` ask for.
pub(crate) fn config_for<S: RingSet>(options: &ShmOptions) -> Result<RingConfig> {
    // At least 2 slots: Vyukov's MPMC queue cannot tell full from empty with one.
    let count = options
        .slot_count
        .unwrap_or(S::DEFAULT_SLOTS)
        .max(options.history)
        .max(2)
        .checked_next_power_of_two();
    let config = match (u32::try_from(options.slot_size), count.map(u32::try_from)) {
        (Ok(size), Some(Ok(count))) => RingConfig::new(size, count, S::TYPE_NAME),
        _ => return Err(Error::State("slot_size or slot_count out of range")),
    };
    if !config.is_valid() {
        return Err(Error::State(
            "slot_size must be 1..=16 MiB and slot_count 1..=1048576",
        ));
    }
    Ok(config)
}

/// This process as a segment creator.
pub(crate) fn creator() -> Creator {
    let me = ProcessStamp::current();
    Creator {
        pid: me.pid,
        start_time: me.start_time,
    }
}

/// The owner id this process's handles record in claims and slots (its pid).
pub(crate) fn owner_id() -> u32 {
    std::process::id()
}

/// Whether the process holding owner id `owner` is alive.
pub(crate) fn owner_alive(owner: u32) -> bool {
    ringwire_platform::liveness::is_alive(owner, 0)
}

/// The creator recorded in an OS segment's (first) header.
pub(crate) fn creator_of(seg: &SharedSegment) -> Option<ProcessStamp> {
    ringwire_core::segment::Segment::<SharedSegment>::creator_of(seg)
        .filter(|c| c.pid != 0)
        .map(|c| ProcessStamp {
            pid: c.pid,
            start_time: c.start_time,
        })
}

fn open_error(name: &SegmentName, pattern: &str, e: OpenError) -> Error {
    Error::Protocol(format!(
        "shm://{name} cannot be used as a {pattern} segment: {e}"
    ))
}

/// Creates the segment for `name`, reclaiming one left by a dead creator. A live creator means
/// somebody else already bound the endpoint: [`SegmentError::InUse`].
pub(crate) fn bind<S: RingSet>(name: &SegmentName, options: &ShmOptions) -> Result<S> {
    let config = config_for::<S>(options)?;
    let len = S::segment_len(&config).ok_or(Error::State("segment too large"))?;
    let mut create = CreateOptions {
        unlink_on_drop: options.unlink_on_drop,
        ..CreateOptions::default()
    };
    let deadline = Instant::now() + options.connect_timeout;
    loop {
        match Segment::create_with(name, len, &create) {
            Ok(seg) => return S::create(SharedSegment::new(seg), config, creator()),
            Err(SegmentError::Exists) => {}
            Err(e) => return Err(e.into()),
        }
        let status = match cleanup::inspect(name) {
            Ok(info) => match (info.status, info.creator) {
                (Status::Alive, Some(c)) => return Err(SegmentError::InUse { pid: c.pid }.into()),
                (status, _) => status,
            },
            Err(SegmentError::NotFound) => continue,
            Err(SegmentError::NotReady) => Status::Initialising,
            Err(e) => return Err(e.into()),
        };
        match status {
            Status::Dead => {
                log::info!("shm://{name}: reclaiming the segment of a dead process");
                create.mode = CreateMode::Replace;
            }
            // A creator that never finishes (died between creating the name and writing the
            // header) is given `connect_timeout`, then replaced.
            Status::Initialising if Instant::now() >= deadline => {
                log::warn!("shm://{name}: replacing a segment that never finished initialising");
                create.mode = CreateMode::Replace;
            }
            Status::Initialising => std::thread::sleep(Duration::from_millis(2)),
            Status::Foreign => {
                return Err(Error::Protocol(format!(
                    "shm://{name} exists but is not a ringwire segment (corrupt header); \
                     remove it with `ringwire clean` or pick another name"
                )));
            }
            other => {
                return Err(Error::Protocol(format!(
                    "shm://{name} exists and cannot be inspected: {other:?}"
                )));
            }
        }
    }
}

/// Opens the segment for `name`, waiting until `deadline` for it to appear and be ready.
/// The geometry is taken from the segment (the options' geometry is only a first guess).
pub(crate) fn connect<S: RingSet>(
    name: &SegmentName,
    options: &ShmOptions,
    deadline: Instant,
) -> Result<S> {
    let mut config = config_for::<S>(options)?;
    let mut backoff = Duration::from_millis(1);
    let mut adopted = false;
    loop {
        let waiting_for = match Segment::open(name) {
            Ok(seg) => match S::open(SharedSegment::new(seg), config) {
                Ok(rings) => return Ok(rings),
                Err(OpenError::GeometryMismatch {
                    slot_size,
                    slot_count,
                }) if !adopted => {
                    config.slot_size = slot_size;
                    config.slot_count = slot_count;
                    adopted = true;
                    continue;
                }
                Err(e) if e.is_retryable() => "to finish initialising",
                Err(e) => return Err(open_error(name, S::PATTERN, e)),
            },
            Err(SegmentError::NotFound) => "to be created (is the binding side running?)",
            Err(SegmentError::NotReady) => "to be sized by its creator",
            Err(e) => return Err(e.into()),
        };
        adopted = false;
        if Instant::now() >= deadline {
            log::debug!("shm://{name}: gave up waiting for the segment {waiting_for}");
            return Err(Error::Timeout);
        }
        std::thread::sleep(backoff.min(deadline.saturating_duration_since(Instant::now())));
        backoff = (backoff * 2).min(Duration::from_millis(20));
    }
}

/// If the creator of `current` is dead, tries once to open a replacement segment under the same
/// name (created by a restarted peer). Returns it if there is a new one with a live creator.
pub(crate) fn replacement<S: RingSet>(
    name: &SegmentName,
    options: &ShmOptions,
    current: &SharedSegment,
) -> Option<S> {
    let old = creator_of(current)?;
    if old.is_alive() {
        return None;
    }
    let seg = Segment::open(name).ok()?;
    let shared = SharedSegment::new(seg);
    match creator_of(&shared) {
        Some(new) if new != old && new.is_alive() => {}
        _ => return None,
    }
    let rings = connect::<S>(name, options, Instant::now()).ok()?;
    log::info!(
        "shm://{name}: peer restarted (pid {} -> new segment)",
        old.pid
    );
    Some(rings)
}

/// Rate limit for the "was my peer's segment replaced?" check on paths that never block (a
/// publisher's sends, a pusher's sends into a queue that is never full): the check reads
/// `/proc`, so it runs at most once per liveness interval, and the clock is read only every
/// 64th call. A socket that created its segment never checks (it is the creator).
#[derive(Debug)]
pub(crate) struct StaleCheck {
    creator: bool,
    calls: u32,
    last: Instant,
    every: Duration,
}

impl StaleCheck {
    pub(crate) fn new(seg: &SharedSegment, every: Duration) -> Self {
        Self {
            creator: seg.is_creator(),
            calls: 0,
            last: Instant::now(),
            every,
        }
    }

    /// Whether it is time to check.
    pub(crate) fn due(&mut self) -> bool {
        if self.creator {
            return false;
        }
        self.calls = self.calls.wrapping_add(1);
        if !self.calls.is_multiple_of(64) || self.last.elapsed() < self.every {
            return false;
        }
        self.last = Instant::now();
        true
    }
}
