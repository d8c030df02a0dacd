//! The client channels of a REQ/REP segment: their layout (channel `k`'s request ring and
//! reply ring back to back at `k` times a channel's length), and how each side claims its ends
//! of them (the replier every channel's, a requester the first free one's, reclaiming a dead
//! owner's with `ringwire_platform::claims`). See docs/shm-transport.md, "Many requesters".

use ringwire_core::ring::spsc::{Consumer, Producer, Spsc};
use ringwire_core::segment::{ClaimError, Creator, OpenError, RingConfig, Segment};
use ringwire_platform::{SegmentError, SharedSegment, SubRegion};
use self_cell::self_cell;

use super::super::attach::{self, RingSet};
use super::super::frames::FRAME_HEADER;
use super::super::options::ShmOptions;
use super::super::wait::notify_space;
use crate::error::{Error, ProtocolError, Result};
use ringwire_core::pattern::req::ID_FRAME;

/// Most client channels one REQ/REP segment holds ([`ShmOptions::max_clients`] is capped here).
pub(crate) const MAX_CLIENTS: usize = 256;

/// One client's channel: its request ring and its reply ring, side by side.
pub(crate) struct Channel {
    pub(super) req: Spsc<SubRegion>,
    pub(super) rep: Spsc<SubRegion>,
}

/// The client channels of one REQ/REP segment, back to back; never empty.
pub(crate) struct Rings {
    /// Channel 0, whose request ring is also the replier's doorbell.
    pub(super) head: Channel,
    /// Channels 1, 2, ...
    more: Vec<Channel>,
}

impl Rings {
    pub(super) fn channels(&self) -> impl Iterator<Item = &Channel> {
        std::iter::once(&self.head).chain(&self.more)
    }

    /// The event word the replier sleeps on: channel 0's request ring.
    pub(super) fn doorbell(&self) -> &Segment<SubRegion> {
        self.head.req.segment()
    }

    /// The OS segment (its first header names the creator).
    pub(super) fn whole(&self) -> &SharedSegment {
        self.head.req.segment().region().segment()
    }

    fn create_clients(
        seg: &SharedSegment,
        config: RingConfig,
        creator: Creator,
        clients: usize,
    ) -> Result<Self> {
        let (half, pair) = channel_len(&config).ok_or(Error::State("bad geometry"))?;
        let err = |e| Error::Protocol(ProtocolError::Create(e));
        let bad = || Error::State("segment smaller than its rings");
        let channel = |k: usize| -> Result<Channel> {
            let at = k.checked_mul(pair).ok_or_else(bad)?;
            let req = SubRegion::new(seg.clone(), at, half).ok_or_else(bad)?;
            let rep = SubRegion::new(seg.clone(), at + half, half).ok_or_else(bad)?;
            let rep = Spsc::create(rep, config, creator).map_err(err)?;
            Ok(Channel {
                req: Spsc::create(req, config, creator).map_err(err)?,
                rep,
            })
        };
        // Channel 0's request ring last: a peer that opened it (its ready state is published
        // with Release) finds every other ring ready too.
        let mut more = (1..clients)
            .rev()
            .map(channel)
            .collect::<Result<Vec<_>>>()?;
        more.reverse();
        let head = channel(0)?;
        Ok(Self { head, more })
    }
}

/// The length of one ring and of one channel (two rings) for `config`.
fn channel_len(config: &RingConfig) -> Option<(usize, usize)> {
    let half = config.required_len()?;
    Some((half, half.checked_mul(2)?))
}

/// How many client channels the creator makes for `options`.
pub(super) fn clients_for(options: &ShmOptions) -> Result<usize> {
    match options.max_clients {
        1..=MAX_CLIENTS => Ok(options.max_clients),
        _ => Err(Error::State("max_clients must be 1..=256")),
    }
}

impl RingSet for Rings {
    const TYPE_NAME: &'static str = "ringwire.shm.reqrep/2";
    const PATTERN: &'static str = "REQ/REP";
    /// REQ/REP is lock-step: one request in flight, plus room for the late replies of
    /// abandoned requests. Few slots keep a large message's slots hot in the caches instead of
    /// cycling through megabytes (64 slots of 64 KiB is 4 MiB per direction).
    const DEFAULT_SLOTS: usize = 4;
    /// The message's frame header and the hidden request-id frame that correlates replies.
    const FRAMING: usize = FRAME_HEADER + ID_FRAME;

    /// One client channel.
    fn segment_len(config: &RingConfig) -> Option<usize> {
        channel_len(config).map(|(_, pair)| pair)
    }

    fn segment_len_with(config: &RingConfig, options: &ShmOptions) -> Option<usize> {
        let clients = clients_for(options).ok()?;
        channel_len(config)?.1.checked_mul(clients)
    }

    fn create(seg: SharedSegment, config: RingConfig, creator: Creator) -> Result<Self> {
        Self::create_clients(&seg, config, creator, 1)
    }

    fn create_with(
        seg: SharedSegment,
        config: RingConfig,
        options: &ShmOptions,
        creator: Creator,
    ) -> Result<Self> {
        Self::create_clients(&seg, config, creator, clients_for(options)?)
    }

    /// The channel count is not stored: it is the segment's length over a channel's, and the
    /// channels past channel 0 that open (all of them, since channel 0 is created last; a
    /// length rounded up by the OS adds none).
    fn open(seg: SharedSegment, config: RingConfig) -> std::result::Result<Self, OpenError> {
        let len = seg.len();
        let (half, pair) = channel_len(&config).ok_or(OpenError::CorruptHeader)?;
        let too_small = OpenError::TooSmall { needed: pair, len };
        // Channel 0's request ring is checked first through a window of the whole segment:
        // if the guessed geometry is wrong (smaller or larger) it reports the real one.
        let probe = SubRegion::new(seg.clone(), 0, len).ok_or(too_small)?;
        Spsc::open(probe, config)?;
        let req = SubRegion::new(seg.clone(), 0, half).ok_or(too_small)?;
        let req = Spsc::open(req, config)?;
        let rep = SubRegion::new(seg.clone(), half, half).ok_or(too_small)?;
        let head = Channel {
            req,
            rep: Spsc::open(rep, config)?,
        };
        let mut more = Vec::new();
        for k in 1..(len / pair).min(MAX_CLIENTS) {
            let at = k * pair;
            let open =
                |at| SubRegion::new(seg.clone(), at, half).and_then(|r| Spsc::open(r, config).ok());
            match (open(at), open(at + half)) {
                (Some(req), Some(rep)) => more.push(Channel { req, rep }),
                _ => break,
            }
        }
        Ok(Self { head, more })
    }
}

/// A claimed end of one channel: the replier holds one per channel (reply producer, request
/// consumer), a requester one for its own channel (request producer, reply consumer).
pub(super) struct Link<'a> {
    /// The channel's index (0: the doorbell's).
    pub(super) k: usize,
    /// Dropped before `tx`: a requester gives its reply end back first, so a newcomer that
    /// gets the request end (the one it claims first) finds the reply end free.
    pub(super) rx: Consumer<'a, SubRegion>,
    pub(super) tx: Producer<'a, SubRegion>,
    /// The ring `tx` writes.
    pub(super) tx_ring: &'a Spsc<SubRegion>,
}

/// The links one side holds: a requester's one, or the replier's one per channel in channel
/// order.
pub(super) struct Ends<'a> {
    pub(super) links: Vec<Link<'a>>,
}

self_cell!(
    pub(super) struct Cell {
        owner: Rings,
        #[not_covariant]
        dependent: Ends,
    }
);

fn claimed<T>(
    region: &SubRegion,
    claim: impl Fn() -> std::result::Result<T, ClaimError>,
    reclaim: impl Fn() -> bool,
) -> Result<T> {
    match claim() {
        Err(ClaimError::Held { owner }) if !attach::owner_alive(region, owner) => {
            reclaim();
            claim()
        }
        other => other,
    }
    .map_err(|e| match e {
        ClaimError::Held { owner } => Error::Segment(SegmentError::InUse { pid: owner }),
        other => Error::Protocol(ProtocolError::Claim(other)),
    })
}

/// [`claimed`], but a claim a live process holds is `None` (the channel is taken).
fn take<T>(
    region: &SubRegion,
    claim: impl Fn() -> std::result::Result<T, ClaimError>,
    reclaim: impl Fn() -> bool,
) -> Result<Option<T>> {
    match claimed(region, claim, reclaim) {
        Ok(t) => Ok(Some(t)),
        Err(Error::Segment(SegmentError::InUse { .. })) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Which side of the segment a socket is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Requester,
    Replier,
}

pub(super) fn cell_for(rings: Rings, side: Side) -> Result<Cell> {
    Cell::try_new(rings, |r| {
        let me = attach::owner_id(r.head.req.segment().region());
        let links = match side {
            Side::Replier => r
                .channels()
                .enumerate()
                .map(|(k, ch)| serve(k, ch, me))
                .collect::<Result<Vec<_>>>()?,
            Side::Requester => vec![client_link(r, me)?],
        };
        Ok(Ends { links })
    })
}

/// The replier's end of channel `k`.
fn serve(k: usize, ch: &Channel, me: u32) -> Result<Link<'_>> {
    let tx = claimed(
        ch.rep.segment().region(),
        || ch.rep.producer(me),
        || ringwire_platform::claims::reclaim_spsc_producer(&ch.rep),
    )
    .map_err(replier_taken)?;
    let rx = claimed(
        ch.req.segment().region(),
        || ch.req.consumer(me),
        || ringwire_platform::claims::reclaim_spsc_consumer(&ch.req),
    )
    .map_err(replier_taken)?;
    Ok(Link {
        k,
        tx,
        rx,
        tx_ring: &ch.rep,
    })
}

/// A requester's end of the first channel that is free or whose owner is dead.
fn client_link(r: &Rings, me: u32) -> Result<Link<'_>> {
    for (k, ch) in r.channels().enumerate() {
        let Some(tx) = take(
            ch.req.segment().region(),
            || ch.req.producer(me),
            || ringwire_platform::claims::reclaim_spsc_producer(&ch.req),
        )?
        else {
            continue;
        };
        // A live holder of the reply end is a requester taking or leaving the channel right
        // now: leave it the channel (dropping `tx` gives the request end back).
        let Some(mut rx) = take(
            ch.rep.segment().region(),
            || ch.rep.consumer(me),
            || ringwire_platform::claims::reclaim_spsc_consumer(&ch.rep),
        )?
        else {
            continue;
        };
        // Replies left for the channel's previous owner are not ours: discard them (a reply
        // still on its way is dropped later by its request id).
        let budget = ch.rep.segment().config().slot_count.saturating_mul(2);
        for _ in 0..budget {
            if rx.try_borrow().is_err() {
                break;
            }
        }
        notify_space(ch.rep.segment());
        log::debug!("shm REQ/REP: requester took client channel {k}");
        return Ok(Link {
            k,
            tx,
            rx,
            tx_ring: &ch.req,
        });
    }
    Err(Error::Unsupported(
        "every client channel of this shm REQ/REP endpoint is held by a live requester (the \
         side that creates the segment sets how many with ShmOptions::max_clients)",
    ))
}

/// A live process already holds the replier's role: say what the limit is, not just who holds
/// the segment.
fn replier_taken(e: Error) -> Error {
    match e {
        Error::Segment(SegmentError::InUse { pid }) => {
            log::debug!("shm REQ/REP: the replier role is held by live process {pid}");
            Error::Unsupported(
                "one replier per endpoint on shm (another live process is the replier); use a \
                 broker or PUSH/PULL for many workers",
            )
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shm::{Replier, Requester};
    use ringwire_platform::SegmentName;
    use ringwire_platform::segment::{CreateOptions, Segment as OsSegment};
    use std::time::Duration;

    /// A segment of the one-requester layout (`ringwire.shm.reqrep/1`: two SPSC rings) is
    /// refused at connect with an error naming both layouts, never misread as a client table.
    #[test]
    fn an_old_layout_segment_is_refused_naming_both_layouts() {
        let name = format!("t-reqrep-v1-{}", std::process::id());
        let os_name = SegmentName::new(&name).unwrap();
        let config = RingConfig::new(4096 + 24, 4, "ringwire.shm.reqrep/1");
        let half = config.required_len().unwrap();
        let seg = OsSegment::create_with(&os_name, 2 * half, &CreateOptions::default()).unwrap();
        let seg = SharedSegment::new(seg);
        let _rings: Vec<_> = [0, half]
            .into_iter()
            .map(|at| {
                let region = SubRegion::new(seg.clone(), at, half).unwrap();
                Spsc::create(region, config, attach::creator()).unwrap()
            })
            .collect();
        let fast = ShmOptions::new().connect_timeout(Duration::from_millis(100));
        let ep = format!("shm://{name}");
        for err in [
            Requester::builder()
                .options(fast.clone())
                .connect(&ep)
                .unwrap_err(),
            Replier::builder().options(fast).connect(&ep).unwrap_err(),
        ] {
            let text = err.to_string();
            assert!(
                matches!(err, Error::Protocol(ProtocolError::Open { .. })),
                "{text}"
            );
            assert!(text.contains("ringwire.shm.reqrep/1"), "{text}");
            assert!(text.contains("ringwire.shm.reqrep/2"), "{text}");
        }
    }
}
