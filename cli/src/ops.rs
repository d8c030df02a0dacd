//! The operations commands: `ringwire ls` (every ringwire shm segment on this machine, what it
//! holds and who uses it), `ringwire clean` (removes the segments whose creator died) and
//! `ringwire stat shm://NAME` (one segment in detail, refreshed until stopped).
//!
//! Segments are found and judged by `ringwire_platform::cleanup` (the same rules the library
//! uses when a socket binds over a stale segment); their figures come from
//! `ringwire_core::inspect::Snapshot`, a read-only look that never disturbs the processes
//! using the segment. Figures read from shared memory are for display only: another process
//! may have corrupted them.

use std::time::{Duration, Instant};

use ringwire_core::inspect::Snapshot;
use ringwire_core::segment::RingKind;
use ringwire_platform::cleanup::{self, SegmentInfo, SegmentKind, Status};
use ringwire_platform::{Segment, SegmentName, SharedSegment};
use serde::Serialize;

use crate::Failure;
use crate::stop;

/// One segment as `ls --json` prints it.
#[derive(Serialize)]
struct Row {
    name: String,
    status: &'static str,
    /// "ring", "doorbell" (an event node's signal doorbell) or "other".
    kind: &'static str,
    /// Why it could not be read (status "unreadable") or inspected.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    bytes: usize,
    creator_pid: Option<u32>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    ring: Option<Ring>,
}

/// What a segment's ring holds and how far its users got.
#[derive(Serialize, Clone, PartialEq)]
struct Ring {
    /// The messaging pattern the ring serves.
    pattern: &'static str,
    ring: &'static str,
    slot_size: u32,
    slot_count: u32,
    message_type: String,
    /// Owner (process id) of the single writer, if one holds the claim.
    writer_pid: Option<u32>,
    /// SPSC: owner of the consumer claim.
    reader_pid: Option<u32>,
    subscribers: u32,
    participants: u32,
    written: u64,
    taken: Option<u64>,
    backlog: u64,
    overrun: u64,
    waiters: u32,
}

fn status_name(status: &Status) -> &'static str {
    match status {
        Status::Alive => "alive",
        Status::Dead => "dead",
        Status::Initialising => "initialising",
        Status::Foreign => "foreign",
        Status::Unreadable(_) => "unreadable",
        _ => "unknown",
    }
}

fn nonzero(owner: u32) -> Option<u32> {
    (owner != 0).then_some(owner)
}

fn ring_of(s: &Snapshot) -> Ring {
    let (pattern, ring) = match s.kind {
        RingKind::Broadcast => ("PUB/SUB", "broadcast"),
        // ringwire's shm REQ/REP is a pair of SPSC rings; a lone SPSC ring is a pipe.
        RingKind::Spsc => ("REQ/REP or pipe", "spsc"),
        RingKind::Mpmc => ("PUSH/PULL", "mpmc"),
    };
    Ring {
        pattern,
        ring,
        slot_size: s.config.slot_size,
        slot_count: s.config.slot_count,
        message_type: s.config.type_name.as_str().to_string(),
        writer_pid: nonzero(s.writer),
        reader_pid: nonzero(s.reader),
        subscribers: s.subscribers,
        participants: s.participants,
        written: s.written,
        taken: s.taken,
        backlog: s.backlog(),
        overrun: s.overrun,
        waiters: s.waiters,
    }
}

/// Maps segment `name` and takes a snapshot of its ring.
fn snapshot(name: &SegmentName) -> Result<Snapshot, String> {
    let segment = SharedSegment::new(Segment::open(name).map_err(|e| e.to_string())?);
    Snapshot::take(&segment).map_err(|e| format!("not a readable ring: {e}"))
}

fn row(info: SegmentInfo) -> Row {
    let mut error = match &info.status {
        Status::Unreadable(e) => Some(e.clone()),
        _ => None,
    };
    let kind = match info.kind {
        SegmentKind::Ring => "ring",
        SegmentKind::Doorbell => "doorbell",
        _ => "other",
    };
    let ring = match info.status {
        Status::Alive | Status::Dead if info.kind == SegmentKind::Ring => {
            match snapshot(&info.name) {
                Ok(s) => Some(ring_of(&s)),
                Err(e) => {
                    error = Some(e);
                    None
                }
            }
        }
        _ => None,
    };
    Row {
        name: info.name.as_str().to_string(),
        status: status_name(&info.status),
        kind,
        error,
        bytes: info.len,
        creator_pid: info.creator.map(|c| c.pid),
        ring,
    }
}

fn opt(v: Option<impl ToString>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// `ringwire ls`.
pub fn ls(json: bool) -> Result<(), Failure> {
    let mut rows: Vec<Row> = cleanup::list().into_iter().map(row).collect();
    rows.sort_by(|a, b| a.name.cmp(&b.name));
    if json {
        let text =
            serde_json::to_string_pretty(&rows).map_err(|e| Failure::Failed(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    if rows.is_empty() {
        println!("no ringwire segments");
        return Ok(());
    }
    println!(
        "{:<24} {:<8} {:>7} {:<10} {:>9} {:>6} {:>7} {:>6} {:>10} {:>8} {:>8}",
        "NAME",
        "CREATOR",
        "PID",
        "RING",
        "SLOT",
        "SLOTS",
        "WRITER",
        "SUBS",
        "WRITTEN",
        "BACKLOG",
        "OVERRUN"
    );
    for r in &rows {
        let pid = opt(r.creator_pid);
        match &r.ring {
            Some(g) => println!(
                "{:<24} {:<8} {:>7} {:<10} {:>9} {:>6} {:>7} {:>6} {:>10} {:>8} {:>8}",
                r.name,
                r.status,
                pid,
                g.ring,
                g.slot_size,
                g.slot_count,
                opt(g.writer_pid),
                g.subscribers,
                g.written,
                g.backlog,
                g.overrun
            ),
            None if r.kind == "doorbell" => println!(
                "{:<24} {:<8} {:>7} event node's signal doorbell",
                r.name, r.status, pid
            ),
            None => println!(
                "{:<24} {:<8} {:>7} {}",
                r.name,
                r.status,
                pid,
                r.error.as_deref().unwrap_or("")
            ),
        }
    }
    Ok(())
}

/// `ringwire clean`.
pub fn clean(dry_run: bool) -> Result<(), Failure> {
    let (targets, verb) = if dry_run {
        let dead = cleanup::list()
            .into_iter()
            .filter(|i| i.status == Status::Dead)
            .collect::<Vec<_>>();
        (dead, "would remove")
    } else {
        (cleanup::clean_dead(), "removed")
    };
    for info in &targets {
        println!(
            "{verb} shm://{} (creator pid {} is dead, {} bytes)",
            info.name.as_str(),
            opt(info.creator.map(|c| c.pid)),
            info.len
        );
    }
    if targets.is_empty() {
        println!("no segment of a dead creator");
    }
    Ok(())
}

/// `ringwire stat shm://NAME`: prints the segment's figures every `interval`, `count` times
/// (until SIGINT/SIGTERM without it), with the rate since the previous print.
pub fn stat(endpoint: &str, interval: Duration, count: Option<u64>) -> Result<(), Failure> {
    let Some(raw) = endpoint.strip_prefix("shm://") else {
        return Err(Failure::Usage(format!(
            "stat takes an shm://NAME endpoint, not {endpoint:?}"
        )));
    };
    let name = SegmentName::new(raw).map_err(|e| Failure::Usage(format!("{endpoint}: {e}")))?;
    let info = cleanup::inspect(&name).map_err(|e| Failure::Failed(format!("{endpoint}: {e}")))?;
    let segment = SharedSegment::new(
        Segment::open(&name).map_err(|e| Failure::Failed(format!("{endpoint}: {e}")))?,
    );
    let mut previous: Option<(Instant, u64)> = None;
    let mut printed = 0u64;
    loop {
        let snap = Snapshot::take(&segment)
            .map_err(|e| Failure::Failed(format!("{endpoint}: not a readable ring: {e}")))?;
        let now = Instant::now();
        let g = ring_of(&snap);
        if printed == 0 {
            println!(
                "shm://{}: {} ({} ring), {} slots of {} bytes, type {:?}, creator pid {} ({})",
                name.as_str(),
                g.pattern,
                g.ring,
                g.slot_count,
                g.slot_size,
                g.message_type,
                opt(info.creator.map(|c| c.pid)),
                status_name(&info.status)
            );
        }
        let rate = match previous {
            Some((at, written)) => {
                let secs = now.duration_since(at).as_secs_f64().max(1e-9);
                format!(
                    "{:.0} msg/s",
                    snap.written.saturating_sub(written) as f64 / secs
                )
            }
            None => "-".into(),
        };
        println!(
            "written {} taken {} backlog {} overrun {} rate {} writer {} reader {} subscribers {} participants {} waiters {}",
            g.written,
            opt(g.taken),
            g.backlog,
            g.overrun,
            rate,
            opt(g.writer_pid),
            opt(g.reader_pid),
            g.subscribers,
            g.participants,
            g.waiters
        );
        printed += 1;
        if count.is_some_and(|c| printed >= c) {
            return Ok(());
        }
        previous = Some((now, snap.written));
        let until = now + interval;
        while Instant::now() < until {
            if let Some(sig) = stop::caught() {
                return Err(Failure::Signal(sig));
            }
            std::thread::sleep(stop::SLICE.min(until.saturating_duration_since(Instant::now())));
        }
    }
}
