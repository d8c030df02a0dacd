//! The supervisor thread: spawns every child (so that on Linux their parent-death signal is
//! tied to a thread that outlives them), reaps them, restarts them, watches readiness and
//! liveness, and stops them all — a tick loop that also takes commands from the manager.

use std::process::{Child, Command};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ringwire_core::pattern::backoff::Backoff;
use ringwire_platform::child::{self, GroupSignal, KillOnExit};

use super::output;
use super::signals::Signals;
use super::spec::{OnFailure, ProcessSpec, Program, ROLE_ARG, Ready, RestartPolicy};
use super::status::{Event, EventKind, Exit, Outcome, ProcessStatus, Report, State};
use super::watch::{self, Watchdog};

/// How often the loop looks at its children when nothing else wakes it.
pub(crate) const TICK: Duration = Duration::from_millis(5);

/// What the manager asks of a running supervisor.
pub(crate) enum Request {
    /// Stop every process (terminate_all).
    Stop,
}

pub(crate) type Observer = Box<dyn FnMut(&Event) + Send>;

/// Everything the supervisor thread owns.
pub(crate) struct Supervisor {
    pub(crate) slots: Vec<Slot>,
    pub(crate) on_failure: OnFailure,
    pub(crate) observer: Option<Observer>,
    pub(crate) shared: Arc<Mutex<Vec<ProcessStatus>>>,
    pub(crate) commands: Receiver<Request>,
    pub(crate) signals: Option<Signals>,
    pub(crate) exe: Option<std::path::PathBuf>,
    epoch: Instant,
    /// Windows: the job object that ends the children with this process.
    job: Option<KillOnExit>,
    stopping: Option<Outcome>,
    /// A second stop request (a second Ctrl-C) skips the grace periods.
    hurry: bool,
    dirty: bool,
}

enum Phase {
    Waiting,
    Running,
    Stopping { kill_at: Instant, killed: bool },
    BackingOff { until: Instant },
    Done,
}

pub(crate) struct Slot {
    spec: ProcessSpec,
    phase: Phase,
    child: Option<Child>,
    pid: Option<u32>,
    started: Option<Instant>,
    since: Option<SystemTime>,
    ready: bool,
    restarts: u32,
    backoff: Backoff,
    last_exit: Option<Exit>,
    watchdog: Option<Watchdog>,
    stalled: bool,
}

impl Slot {
    pub(crate) fn new(spec: ProcessSpec) -> Self {
        let (initial, max) = spec.backoff;
        Slot {
            backoff: Backoff::new(millis(initial), millis(max)),
            spec,
            phase: Phase::Waiting,
            child: None,
            pid: None,
            started: None,
            since: None,
            ready: false,
            restarts: 0,
            last_exit: None,
            watchdog: None,
            stalled: false,
        }
    }

    fn status(&self) -> ProcessStatus {
        ProcessStatus {
            name: self.spec.name.clone(),
            state: match self.phase {
                Phase::Waiting => State::Waiting,
                Phase::Running => State::Running,
                Phase::Stopping { .. } => State::Stopping,
                Phase::BackingOff { .. } => State::BackingOff,
                Phase::Done => State::Exited,
            },
            pid: self.pid,
            since: self.since,
            ready: self.ready,
            restarts: self.restarts,
            last_exit: self.last_exit.clone(),
        }
    }
}

pub(crate) fn statuses(slots: &[Slot]) -> Vec<ProcessStatus> {
    slots.iter().map(Slot::status).collect()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Supervisor {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        slots: Vec<Slot>,
        on_failure: OnFailure,
        observer: Option<Observer>,
        shared: Arc<Mutex<Vec<ProcessStatus>>>,
        commands: Receiver<Request>,
        signals: Option<Signals>,
        exe: Option<std::path::PathBuf>,
    ) -> Self {
        Supervisor {
            slots,
            on_failure,
            observer,
            shared,
            commands,
            signals,
            exe,
            epoch: Instant::now(),
            job: KillOnExit::new()
                .map_err(|e| log::warn!("process manager: no kill-on-exit job: {e}"))
                .ok(),
            stopping: None,
            hurry: false,
            dirty: true,
        }
    }

    /// Runs until every process has ended for good.
    pub(crate) fn run(mut self) -> Report {
        loop {
            match self.commands.recv_timeout(TICK) {
                Ok(Request::Stop) => self.request_stop(Outcome::Terminated),
                Err(RecvTimeoutError::Timeout) => {}
                // The manager is gone (dropped while running): stop everything.
                Err(RecvTimeoutError::Disconnected) => self.request_stop(Outcome::Terminated),
            }
            if let Some(sig) = self.signals.as_ref().and_then(Signals::take) {
                log::info!("process manager: signal {sig}, stopping every process");
                self.request_stop(Outcome::Signal(sig));
            }
            let now = Instant::now();
            for i in 0..self.slots.len() {
                self.reap(i, now);
            }
            for i in 0..self.slots.len() {
                self.watch(i, now);
            }
            for i in 0..self.slots.len() {
                self.advance(i, now);
            }
            self.publish();
            if self.slots.iter().all(|s| matches!(s.phase, Phase::Done)) {
                break;
            }
        }
        if let Some(signals) = self.signals.take() {
            signals.release();
        }
        let outcome = self.stopping.take().unwrap_or(Outcome::Completed);
        let report = Report {
            outcome,
            processes: statuses(&self.slots),
        };
        log::info!(
            "process manager: run ended ({:?}), exit code {}",
            report.outcome,
            report.exit_code()
        );
        report
    }

    fn emit(&mut self, i: usize, kind: EventKind) {
        self.dirty = true;
        let event = Event {
            name: self.slots[i].spec.name.clone(),
            kind,
        };
        match &event.kind {
            EventKind::Exited(e) if e.is_failure() => log::warn!("{event}"),
            EventKind::Stalled | EventKind::Killed => log::warn!("{event}"),
            _ => log::info!("{event}"),
        }
        if let Some(observer) = &mut self.observer {
            // A panicking observer must not take the supervisor down (its children would
            // then die without a graceful stop): it is dropped, and the run goes on.
            let call = std::panic::AssertUnwindSafe(|| observer(&event));
            if std::panic::catch_unwind(call).is_err() {
                log::error!("process manager: the event observer panicked; no more events");
                self.observer = None;
            }
        }
    }

    fn publish(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let now = statuses(&self.slots);
        if let Ok(mut shared) = self.shared.lock() {
            *shared = now;
        }
    }

    /// Stops every process: the first request decides the outcome; a second one hurries.
    fn request_stop(&mut self, outcome: Outcome) {
        if self.stopping.is_some() {
            if !self.hurry && matches!(outcome, Outcome::Signal(_)) {
                self.hurry = true;
                let now = Instant::now();
                for slot in &mut self.slots {
                    if let Phase::Stopping { kill_at, .. } = &mut slot.phase {
                        *kill_at = now;
                    }
                }
            }
            return;
        }
        self.stopping = Some(outcome);
        let now = Instant::now();
        for i in 0..self.slots.len() {
            match self.slots[i].phase {
                Phase::Running => self.stop_one(i, now),
                Phase::Waiting | Phase::BackingOff { .. } => {
                    self.slots[i].phase = Phase::Done;
                    if self.slots[i].last_exit.is_none() {
                        self.slots[i].last_exit = Some(Exit::NotStarted);
                    }
                    self.dirty = true;
                }
                Phase::Stopping { .. } | Phase::Done => {}
            }
        }
    }

    /// SIGTERM to the process's group (Windows: terminate), SIGKILL after the grace period.
    fn stop_one(&mut self, i: usize, now: Instant) {
        let grace = if self.hurry {
            Duration::ZERO
        } else {
            self.slots[i].spec.grace
        };
        let slot = &mut self.slots[i];
        let Some(pid) = slot.pid else {
            return;
        };
        terminate(slot, pid);
        slot.phase = Phase::Stopping {
            kill_at: now + grace,
            killed: false,
        };
        self.emit(i, EventKind::Stopping);
    }

    /// Collects an ended child, and decides what follows.
    fn reap(&mut self, i: usize, now: Instant) {
        let slot = &mut self.slots[i];
        let Some(child) = &mut slot.child else {
            return;
        };
        let pid = child.id();
        // Unix: see the exit before reaping, so that the group id is still reserved while
        // what the child left in its group is killed.
        match child::has_exited(pid) {
            Ok(Some(false)) => return,
            Ok(Some(true)) => {
                let _ = child::signal_group(pid, GroupSignal::Kill);
            }
            Ok(None) | Err(_) => {}
        }
        let status = match child.try_wait() {
            Ok(Some(status)) => Some(status),
            Ok(None) => return,
            // Someone else reaped it (e.g. SIGCHLD set to SIG_IGN in this process): it is gone,
            // with a status nobody can know any more.
            Err(e) => {
                log::error!("{}: cannot wait for pid {pid}: {e}", slot.spec.name);
                None
            }
        };
        slot.child = None;
        slot.pid = None;
        slot.watchdog = None;
        slot.ready = false;
        let exit = match status {
            _ if slot.stalled => Exit::Stalled,
            Some(status) => Exit::from_status(status),
            None => Exit::Code(-1),
        };
        slot.stalled = false;
        let removed = watch::remove_segments_of(pid);
        if !removed.is_empty() {
            log::info!(
                "{}: removed the shm segments it left: {}",
                slot.spec.name,
                removed.join(", ")
            );
        }
        let ran = slot
            .started
            .map_or(Duration::ZERO, |s| now.duration_since(s));
        self.emit(i, EventKind::Exited(exit.clone()));
        self.after_exit(i, exit, ran, now);
    }

    /// A run of slot `i` ended with `exit` after running `ran`: restart, or end for good.
    fn after_exit(&mut self, i: usize, exit: Exit, ran: Duration, now: Instant) {
        let slot = &mut self.slots[i];
        slot.last_exit = Some(exit.clone());
        if self.stopping.is_some() {
            slot.phase = Phase::Done;
            return;
        }
        let failure = exit.is_failure();
        let restart = match slot.spec.restart {
            RestartPolicy::Never => false,
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure { limit } => {
                failure && limit.is_none_or(|limit| slot.restarts < limit)
            }
        };
        if restart {
            let (_, max) = slot.spec.backoff;
            if ran >= max {
                slot.backoff.on_success();
            }
            let now_ms = millis(now.duration_since(self.epoch));
            let at = slot.backoff.on_failure(now_ms);
            let delay = Duration::from_millis(at.saturating_sub(now_ms));
            slot.restarts += 1;
            slot.phase = Phase::BackingOff { until: now + delay };
            let attempt = slot.restarts;
            self.emit(i, EventKind::Restarting { attempt, delay });
            return;
        }
        slot.phase = Phase::Done;
        self.dirty = true;
        if failure && self.on_failure == OnFailure::StopAll {
            let name = slot.spec.name.clone();
            log::warn!("{name} failed ({exit}): stopping every process");
            self.request_stop(Outcome::Failed { name, exit });
        }
    }

    /// Liveness and readiness of a running child.
    fn watch(&mut self, i: usize, now: Instant) {
        let slot = &mut self.slots[i];
        if !matches!(slot.phase, Phase::Running) {
            return;
        }
        if !slot.ready {
            let ready = match &slot.spec.ready {
                Ready::Running => true,
                Ready::Bound(ep) => watch::is_bound(ep),
            };
            if ready {
                slot.ready = true;
                self.emit(i, EventKind::Ready);
            }
        }
        let slot = &mut self.slots[i];
        if let Some(dog) = &mut slot.watchdog
            && dog.stalled(now)
        {
            log::debug!(
                "{}: {} heartbeats before the stall",
                slot.spec.name,
                dog.beats
            );
            slot.stalled = true;
            self.emit(i, EventKind::Stalled);
            self.stop_one(i, now);
        }
    }

    /// Starts what may start, restarts what is due, kills what outlived its grace.
    fn advance(&mut self, i: usize, now: Instant) {
        match self.slots[i].phase {
            Phase::Waiting if self.stopping.is_none() => {
                let mut can_start = true;
                for dep in &self.slots[i].spec.after {
                    let Some(d) = self.slots.iter().find(|s| &s.spec.name == dep) else {
                        continue; // validated at start
                    };
                    if d.ready {
                        continue;
                    }
                    can_start = false;
                    if matches!(d.phase, Phase::Done) {
                        // It ended without becoming ready: this one can never start.
                        log::warn!(
                            "{}: not started, {} ended before it was ready",
                            self.slots[i].spec.name,
                            dep
                        );
                        self.slots[i].phase = Phase::Done;
                        self.slots[i].last_exit = Some(Exit::NotStarted);
                        self.dirty = true;
                        return;
                    }
                }
                if can_start {
                    self.spawn(i, now);
                }
            }
            Phase::BackingOff { until } if self.stopping.is_none() && now >= until => {
                self.spawn(i, now);
            }
            Phase::Stopping { kill_at, killed } if !killed && now >= kill_at => {
                let slot = &mut self.slots[i];
                if let Some(pid) = slot.pid {
                    kill(slot, pid);
                }
                slot.phase = Phase::Stopping {
                    kill_at,
                    killed: true,
                };
                self.emit(i, EventKind::Killed);
            }
            _ => {}
        }
    }

    fn spawn(&mut self, i: usize, now: Instant) {
        let result =
            build_command(&self.slots[i].spec, self.exe.as_deref()).and_then(|mut cmd| cmd.spawn());
        let slot = &mut self.slots[i];
        slot.started = Some(now);
        slot.since = Some(SystemTime::now());
        match result {
            Ok(mut child) => {
                let pid = child.id();
                if let Some(job) = &self.job
                    && let Err(e) = job.adopt(&child)
                {
                    log::warn!(
                        "{}: not tied to the manager's lifetime: {e}",
                        slot.spec.name
                    );
                }
                output::forward(&mut child, &slot.spec.name);
                slot.child = Some(child);
                slot.pid = Some(pid);
                slot.phase = Phase::Running;
                slot.watchdog = slot
                    .spec
                    .liveness
                    .as_ref()
                    .map(|l| Watchdog::new(&l.topic, l.deadline, now));
                self.emit(i, EventKind::Started { pid });
                // Ready::Running dependents may start in this same tick.
                self.watch(i, now);
            }
            Err(e) => {
                let program = match &self.slots[i].spec.program {
                    Program::Command { program, .. } => program.to_string_lossy().into_owned(),
                    Program::Function { role, .. } => format!("role {role}"),
                };
                let exit = Exit::SpawnFailed(format!("{program}: {e}"));
                self.emit(i, EventKind::Exited(exit.clone()));
                self.after_exit(i, exit, Duration::ZERO, now);
            }
        }
    }
}

/// The OS command for `spec`.
pub(crate) fn build_command(
    spec: &ProcessSpec,
    exe: Option<&std::path::Path>,
) -> std::io::Result<Command> {
    let mut cmd = match &spec.program {
        Program::Command { program, args } => {
            let mut cmd = Command::new(program);
            cmd.args(args);
            cmd
        }
        Program::Function { role, args } => {
            let exe = exe.ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the path of this program is unknown (current_exe failed)",
                )
            })?;
            let mut cmd = Command::new(exe);
            cmd.arg(format!("{ROLE_ARG}{role}")).args(args);
            cmd
        }
    };
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    output::configure(&mut cmd, &spec.output)?;
    child::tie_to_parent(&mut cmd);
    Ok(cmd)
}

fn terminate(slot: &mut Slot, pid: u32) {
    #[cfg(unix)]
    {
        if let Err(e) = child::signal_group(pid, GroupSignal::Terminate) {
            log::warn!("{}: SIGTERM to group {pid}: {e}", slot.spec.name);
        }
    }
    #[cfg(not(unix))]
    {
        // No SIGTERM: terminate at once.
        kill(slot, pid);
    }
}

fn kill(slot: &mut Slot, pid: u32) {
    #[cfg(unix)]
    {
        if let Err(e) = child::signal_group(pid, GroupSignal::Kill) {
            log::warn!("{}: SIGKILL to group {pid}: {e}", slot.spec.name);
        }
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        if let Some(child) = &mut slot.child {
            let _ = child.kill();
        }
    }
}
