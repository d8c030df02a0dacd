//! Attaching a socket to its segment: endpoint parsing, `bind` (create, or reclaim a segment
//! whose creator died), `connect` (open, waiting a bounded time for the creator), and the
//! liveness checks that let a socket notice its peer's segment was replaced.
//!
//! A pattern keeps one or more core segments in one OS segment ([`RingSet`]). The creator's pid
//! and start time sit in the first core segment's header; a segment whose creator is dead (on
//! Linux: nobody holds its creator lock on the segment file, `ringwire_platform::cleanup`) is
//! garbage that the next `bind` replaces, and that connected sockets leave for the replacement.

use std::time::{Duration, Instant};

use ringwire_core::segment::{Creator, OpenError, RingConfig, TypeName, fnv1a64};
use ringwire_platform::claims::SegmentBacked;
use ringwire_platform::cleanup::{self, Status};
use ringwire_platform::dir_watch::{SegmentWatch, Woken};
use ringwire_platform::segment::{CreateMode, CreateOptions, Segment, SegmentError};
use ringwire_platform::{ProcessStamp, SegmentName, SharedSegment};

use super::options::ShmOptions;
use crate::endpoint::Endpoint;
use crate::error::{Error, ProtocolError, Result};

/// The rings a pattern keeps in one OS segment.
pub(crate) trait RingSet: Sized {
    /// Message type name recorded in the header (tells the patterns apart).
    const TYPE_NAME: &'static str;
    /// What the pattern is called in error messages.
    const PATTERN: &'static str;
    /// Slots per ring when the options leave `slot_count` unset.
    const DEFAULT_SLOTS: usize = 64;
    /// Bytes the library adds to a one-frame message in a slot (its frame header; REQ/REP's
    /// request-id frame too): a ring slot is `ShmOptions::slot_size` plus this, so
    /// `slot_size` is what a user can send.
    const FRAMING: usize = super::frames::FRAME_HEADER;
    /// Bytes the OS segment needs for `config`.
    fn segment_len(config: &RingConfig) -> Option<usize>;
    /// Lays the rings out in a fresh segment.
    fn create(seg: SharedSegment, config: RingConfig, creator: Creator) -> Result<Self>;
    /// Opens the rings of an existing segment.
    fn open(seg: SharedSegment, config: RingConfig) -> std::result::Result<Self, OpenError>;
    /// [`segment_len`](Self::segment_len) for a pattern whose layout depends on `options`
    /// (REQ/REP's client count); the default ignores them.
    fn segment_len_with(config: &RingConfig, _options: &ShmOptions) -> Option<usize> {
        Self::segment_len(config)
    }
    /// [`create`](Self::create) for a pattern whose layout depends on `options`.
    fn create_with(
        seg: SharedSegment,
        config: RingConfig,
        _options: &ShmOptions,
        creator: Creator,
    ) -> Result<Self> {
        Self::create(seg, config, creator)
    }
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
    if options.slot_size == 0 {
        return Err(Error::State("slot_size must be at least 1 byte"));
    }
    let slot = options.slot_size.checked_add(S::FRAMING).map(u32::try_from);
    let config = match (slot, count.map(u32::try_from)) {
        (Some(Ok(size)), Some(Ok(count))) => {
            let mut config = RingConfig::new(size, count, S::TYPE_NAME);
            if let Some(name) = &options.message_type {
                config.type_hash = typed_hash::<S>(name);
                config.type_name = TypeName::new(name);
            }
            config
        }
        _ => return Err(Error::State("slot_size or slot_count out of range")),
    };
    if !config.is_valid() {
        return Err(Error::State(
            "slot_size must be 1..=16 MiB (less the library's frame headers) and slot_count \
             1..=1048576",
        ));
    }
    Ok(config)
}

/// The header's type hash for messages named `name` in pattern `S` (an untyped segment's hash
/// is that of the pattern's name alone).
fn typed_hash<S: RingSet>(name: &str) -> u64 {
    fnv1a64(format!("{}:{name}", S::TYPE_NAME).as_bytes())
}

/// Whether a socket expecting `mine` (`None`: untyped) may open a segment of pattern `S` whose
/// header carries `found_hash` and `found`: an untyped segment suits every socket, an untyped
/// socket suits every segment of its pattern, and typed ones must agree.
fn type_suits<S: RingSet>(mine: Option<&str>, found_hash: u64, found: &TypeName) -> bool {
    if found_hash == fnv1a64(S::TYPE_NAME.as_bytes()) {
        return true;
    }
    // A cut name cannot be checked against the hash; the kind and geometry already matched.
    mine.is_none() && (found.is_full() || found_hash == typed_hash::<S>(found.as_str()))
}

/// This process as a segment creator.
pub(crate) fn creator() -> Creator {
    let me = ProcessStamp::current();
    Creator {
        pid: me.pid,
        start_time: me.start_time,
    }
}

/// The owner id this process's handles record in claims and slots of `region`'s segment (its
/// pid, whose liveness lock the mapping holds on Linux).
pub(crate) fn owner_id<R: SegmentBacked>(region: &R) -> u32 {
    ringwire_platform::claims::owner_id(region)
}

/// Whether the holder of owner id `owner` in `region`'s segment may be alive: false only when
/// the OS says it is certainly gone (the verdict claim recovery rests on,
/// `ringwire_platform::claims`).
pub(crate) fn owner_alive<R: SegmentBacked>(region: &R, owner: u32) -> bool {
    ringwire_platform::claims::owner_may_be_alive(region, owner)
}

/// Whether `creator`, recorded in `seg`'s header, may still be running (on Linux: it still
/// holds its creator lock on the segment file, `ringwire_platform::cleanup::creator_alive`).
pub(crate) fn creator_alive(seg: &SharedSegment, creator: ProcessStamp) -> bool {
    cleanup::creator_alive(seg, creator)
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

fn open_error(name: &SegmentName, pattern: &'static str, e: OpenError) -> Error {
    Error::Protocol(ProtocolError::Open {
        endpoint: format!("shm://{name}"),
        pattern,
        error: Box::new(e),
    })
}

/// Creates the segment for `name`, reclaiming one left by a dead creator. A live creator means
/// somebody else already bound the endpoint: [`SegmentError::InUse`].
pub(crate) fn bind<S: RingSet>(name: &SegmentName, options: &ShmOptions) -> Result<S> {
    let config = config_for::<S>(options)?;
    let len = S::segment_len_with(&config, options).ok_or(Error::State("segment too large"))?;
    let mut create = CreateOptions {
        unlink_on_drop: options.unlink_on_drop,
        ..CreateOptions::default()
    };
    let deadline = Instant::now() + options.connect_timeout;
    loop {
        match Segment::create_with(name, len, &create) {
            Ok(seg) => return S::create_with(SharedSegment::new(seg), config, options, creator()),
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
                return Err(Error::Protocol(ProtocolError::ForeignSegment {
                    endpoint: format!("shm://{name}"),
                }));
            }
            other => {
                return Err(Error::Protocol(ProtocolError::Uninspectable {
                    endpoint: format!("shm://{name}"),
                    detail: format!("{other:?}"),
                }));
            }
        }
    }
}

#[cfg(test)]
thread_local! {
    /// How many times [`connect`] looked for its segment on this thread (tests count them).
    static OPEN_ATTEMPTS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Opens the segment for `name`, waiting until `deadline` for it to appear and be ready.
/// The geometry is taken from the segment (the options' geometry is only a first guess).
///
/// While the segment's file does not exist or is not sized yet, the wait is on a
/// [`SegmentWatch`] (inotify on Linux), which wakes as soon as the file is created or sized;
/// without one, and while a found segment finishes initialising (writes through a mapping
/// raise no event), it polls with a back-off of 1 to 20 ms.
pub(crate) fn connect<S: RingSet>(
    name: &SegmentName,
    options: &ShmOptions,
    deadline: Instant,
) -> Result<S> {
    let mut config = config_for::<S>(options)?;
    let mut backoff = Duration::from_millis(1);
    let mut adopted = false;
    let mut adopted_type = false;
    let mut watch = Watch::NotYet;
    loop {
        #[cfg(test)]
        OPEN_ATTEMPTS.set(OPEN_ATTEMPTS.get() + 1);
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
                Err(OpenError::TypeMismatch {
                    found_hash, found, ..
                }) if !adopted_type
                    && type_suits::<S>(options.message_type.as_deref(), found_hash, &found) =>
                {
                    config.type_hash = found_hash;
                    config.type_name = found;
                    adopted_type = true;
                    continue;
                }
                Err(e) if e.is_retryable() => "to finish initialising",
                Err(e) => return Err(open_error(name, S::PATTERN, e)),
            },
            Err(SegmentError::NotFound) => NO_FILE,
            Err(SegmentError::NotReady) => NOT_SIZED,
            Err(e) => return Err(e.into()),
        };
        adopted = false;
        adopted_type = false;
        if Instant::now() >= deadline {
            log::debug!("shm://{name}: gave up waiting for the segment {waiting_for}");
            return Err(Error::Timeout);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if waiting_for == NO_FILE || waiting_for == NOT_SIZED {
            match &mut watch {
                // The watch must be in place before the last look, or a creation between
                // that look and the watch would be missed: look once more first.
                Watch::NotYet => {
                    watch = SegmentWatch::new(name).map_or(Watch::Unavailable, Watch::On);
                    if matches!(watch, Watch::On(_)) {
                        continue;
                    }
                }
                Watch::On(w) => match w.wait(left) {
                    Woken::Changed | Woken::TimedOut => continue,
                    Woken::Broken => watch = Watch::Unavailable,
                },
                Watch::Unavailable => {}
            }
        }
        std::thread::sleep(backoff.min(left));
        backoff = (backoff * 2).min(Duration::from_millis(20));
    }
}

/// What [`connect`] waits for, in its log record.
const NO_FILE: &str = "to be created (is the binding side running?)";
const NOT_SIZED: &str = "to be sized by its creator";

/// [`connect`]'s directory watch.
enum Watch {
    /// Not needed so far.
    NotYet,
    /// In place.
    On(SegmentWatch),
    /// Not available here (or broken): poll.
    Unavailable,
}

/// If the creator of `current` is dead, tries once to open a replacement segment under the same
/// name (created by a restarted peer). Returns it if there is a new one with a live creator.
pub(crate) fn replacement<S: RingSet>(
    name: &SegmentName,
    options: &ShmOptions,
    current: &SharedSegment,
) -> Option<S> {
    let old = creator_of(current)?;
    if creator_alive(current, old) {
        return None;
    }
    let seg = Segment::open(name).ok()?;
    let shared = SharedSegment::new(seg);
    match creator_of(&shared) {
        Some(new) if new != old && creator_alive(&shared, new) => {}
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
/// publisher's sends, a pusher's sends into a queue that is never full): the check makes system
/// calls (a lock probe on Linux, `/proc` or `kill` elsewhere), so it runs at most once per
/// liveness interval, and the clock is read only every 64th call. A socket that created its segment never checks (it is the creator).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::{Publisher, Subscriber};

    /// A subscriber waiting for its publisher's segment looks for it again when it appears,
    /// not on a polling schedule: a few looks however long it waited.
    #[test]
    fn a_waiting_connect_looks_again_when_the_segment_appears() {
        let ep = format!("shm://t-attach-wake-{}", std::process::id());
        let at = ep.clone();
        let subscriber = std::thread::spawn(move || {
            let connected = Subscriber::builder()
                .options(ShmOptions::new().connect_timeout(Duration::from_secs(60)))
                .connect(&at)
                .map(drop);
            (connected, OPEN_ATTEMPTS.get())
        });
        // Long enough for a polling connect to look many times (no assertion on time: the
        // count below does not depend on it when the connect waits for an event).
        std::thread::sleep(Duration::from_millis(500));
        let _publisher = Publisher::bind(&ep).unwrap();
        let (connected, looks) = subscriber.join().unwrap();
        connected.unwrap();
        #[cfg(target_os = "linux")]
        assert!(looks <= 8, "{looks} looks for the segment");
        #[cfg(not(target_os = "linux"))]
        assert!(looks >= 1);
    }
}
