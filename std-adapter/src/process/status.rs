//! What the manager reports: each process's [`ProcessStatus`], the [`Event`]s of a run and
//! its final [`Report`].

use std::fmt;
use std::time::{Duration, SystemTime};

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exit {
    /// It exited with this status code (-1: unknown, the child was reaped elsewhere).
    Code(i32),
    /// A signal ended it (Unix), e.g. 9 after SIGKILL.
    Signal(i32),
    /// Its liveness topic went quiet past the deadline, and the manager stopped it.
    Stalled,
    /// It could not be started (the OS error).
    SpawnFailed(String),
    /// It never started: the run ended first, or a process it waits for ended without
    /// becoming ready.
    NotStarted,
}

impl Exit {
    /// Exit code 0.
    pub fn is_success(&self) -> bool {
        matches!(self, Exit::Code(0))
    }

    /// A shell-style exit code: the code itself; 128 + signal; 124 after a missed liveness
    /// deadline (as `timeout(1)`); 127 when it could not be started; 0 when it never started.
    pub fn code(&self) -> i32 {
        match self {
            Exit::Code(c) => *c,
            Exit::Signal(s) => 128 + s,
            Exit::Stalled => 124,
            Exit::SpawnFailed(_) => 127,
            Exit::NotStarted => 0,
        }
    }

    /// Whether it counts as a failure for the restart policy and [`OnFailure`](super::OnFailure).
    pub(crate) fn is_failure(&self) -> bool {
        !matches!(self, Exit::Code(0) | Exit::NotStarted)
    }

    pub(crate) fn from_status(status: std::process::ExitStatus) -> Exit {
        if let Some(code) = status.code() {
            return Exit::Code(code);
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt;
            if let Some(sig) = status.signal() {
                return Exit::Signal(sig);
            }
        }
        Exit::Code(-1)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit code {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
            Exit::Stalled => f.write_str("stalled (liveness deadline missed)"),
            Exit::SpawnFailed(e) => write!(f, "could not start: {e}"),
            Exit::NotStarted => f.write_str("not started"),
        }
    }
}

/// Where a process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not started yet: the run has not begun, or it waits for the processes it comes after.
    Waiting,
    /// Running.
    Running,
    /// Asked to stop (SIGTERM sent); killed when its grace period ends.
    Stopping,
    /// Ended; restarts when its back-off delay is over.
    BackingOff,
    /// Ended for good.
    Exited,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Waiting => "waiting",
            State::Running => "running",
            State::Stopping => "stopping",
            State::BackingOff => "backing off",
            State::Exited => "exited",
        })
    }
}

/// One process, as [`ProcessManager::status`](super::ProcessManager::status) sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessStatus {
    /// Its name.
    pub name: String,
    /// Where it is.
    pub state: State,
    /// Its pid while it runs (or stops).
    pub pid: Option<u32>,
    /// When its current run started (or its last one, once it ended).
    pub since: Option<SystemTime>,
    /// Whether it is ready for the processes that come after it.
    pub ready: bool,
    /// How many times it was restarted.
    pub restarts: u32,
    /// How its last run ended.
    pub last_exit: Option<Exit>,
}

/// Something that happened to one process.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// It started with this pid.
    Started {
        /// Its pid.
        pid: u32,
    },
    /// It became ready (its endpoint is bound).
    Ready,
    /// It ended.
    Exited(Exit),
    /// It will restart after `delay` (the back-off); `attempt` counts from 1.
    Restarting {
        /// Which restart this is.
        attempt: u32,
        /// The back-off delay before it.
        delay: Duration,
    },
    /// Its liveness topic was quiet for longer than its deadline.
    Stalled,
    /// It was sent SIGTERM (on Windows: terminated).
    Stopping,
    /// Its grace period ended and it was sent SIGKILL.
    Killed,
}

/// An [`EventKind`] and the process it happened to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The process's name.
    pub name: String,
    /// What happened.
    pub kind: EventKind,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = &self.name;
        match &self.kind {
            EventKind::Started { pid } => write!(f, "{name}: started (pid {pid})"),
            EventKind::Ready => write!(f, "{name}: ready"),
            EventKind::Exited(exit) => write!(f, "{name}: {exit}"),
            EventKind::Restarting { attempt, delay } => {
                write!(f, "{name}: restart {attempt} in {} ms", delay.as_millis())
            }
            EventKind::Stalled => write!(f, "{name}: liveness deadline missed"),
            EventKind::Stopping => write!(f, "{name}: stopping"),
            EventKind::Killed => write!(f, "{name}: grace period over, killed"),
        }
    }
}

/// Why a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every process ended and none failed for good (or, with
    /// [`OnFailure::KeepRunning`](super::OnFailure::KeepRunning), all ended).
    Completed,
    /// This process failed for good, and the others were stopped
    /// ([`OnFailure::StopAll`](super::OnFailure::StopAll)).
    Failed {
        /// The process.
        name: String,
        /// How it ended.
        exit: Exit,
    },
    /// The manager received this signal (SIGINT 2, SIGTERM 15) and stopped every process.
    Signal(i32),
    /// [`ProcessManager::terminate_all`](super::ProcessManager::terminate_all) stopped them.
    Terminated,
}

/// The end of a run: why, and every process's last status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Why the run ended.
    pub outcome: Outcome,
    /// Each process, in the order they were added.
    pub processes: Vec<ProcessStatus>,
}

impl Report {
    /// An exit code for the manager's own process: 0 when terminated, or completed without a
    /// failure; the (first) failure's [`Exit::code`] (at least 1); 128 + the signal.
    pub fn exit_code(&self) -> i32 {
        match &self.outcome {
            Outcome::Terminated => 0,
            Outcome::Completed => {
                // KeepRunning: a process that failed still makes the run fail.
                self.processes
                    .iter()
                    .filter_map(|p| p.last_exit.as_ref())
                    .find(|e| e.is_failure())
                    .map_or(0, |e| e.code().max(1))
            }
            Outcome::Failed { exit, .. } => exit.code().max(1),
            Outcome::Signal(sig) => 128 + sig,
        }
    }
}
