//! Process manager: start a system of processes, keep it healthy, stop it cleanly.
//!
//! A [`ProcessManager`] runs [`ProcessSpec`]s — a command line, or a function of the current
//! binary, which it re-executes with `--ringwire-role=NAME` (ProcLink's
//! `create_process(target=fn)`, which used Python's multiprocessing). One supervisor thread
//! spawns every child, reaps it, and applies its policies:
//!
//! - **restart** ([`RestartPolicy`]): never; on failure, with an exponential back-off
//!   (`ringwire_core::pattern::backoff`, the sockets' reconnect schedule) and a limit; always;
//! - **failure** ([`OnFailure`]): when a process fails for good, stop all the others (the
//!   default) or keep them running;
//! - **stop**: SIGTERM to the child's process group, its grace period, then SIGKILL — on
//!   [`terminate_all`](ProcessManager::terminate_all), on SIGINT/SIGTERM to the manager, on a
//!   failure under [`OnFailure::StopAll`], when dropped;
//! - **start order**: a process [`after`](ProcessSpec::after) another starts once that one is
//!   [ready](Ready): running, or its endpoint bound;
//! - **liveness**: a process given a [`liveness`](ProcessSpec::liveness) topic that goes quiet
//!   past its deadline is stopped and counts as failed ([`Exit::Stalled`]);
//! - **output** ([`Output`]): lines prefixed with the process's name, a log file, or as is;
//! - **leftovers**: the shm segments an ended child had created are removed, and what it left
//!   running in its process group is killed.
//!
//! What each OS gets: on **Linux** every child leads its own process group and has
//! `PR_SET_PDEATHSIG(SIGKILL)`, so it dies with the manager even after `kill -9` (processes
//! that a child starts in turn are not covered, unless they set their own death signal; the
//! group is killed whenever the manager sees the child end). On **macOS and other Unix**
//! systems: process groups and graceful stops, but no death signal — a manager killed with
//! SIGKILL leaves its children running. On **Windows**: spawn, wait, restart, output; a stop
//! terminates at once (there is no SIGTERM), no signal handling; the children are in a job
//! object that the OS terminates when the manager's process ends (compile-checked only).
//! Details: `docs/process.md`.
//!
//! ```no_run
//! use ringwire::process::{ProcessManager, ProcessSpec, RestartPolicy};
//!
//! fn publisher() { /* a node */ }
//!
//! fn main() {
//!     let mut manager = ProcessManager::new();
//!     manager.add_fn("publisher", publisher).unwrap();
//!     manager
//!         .add(ProcessSpec::command("logger", "sh", ["-c", "echo logging"])
//!             .restart(RestartPolicy::OnFailure { limit: Some(3) }))
//!         .unwrap();
//!     // A re-executed copy runs `publisher` here and exits; the manager runs them all.
//!     let report = manager.run().unwrap();
//!     std::process::exit(report.exit_code());
//! }
//! ```

mod output;
mod signals;
mod spec;
mod status;
mod supervisor;
mod watch;

use std::collections::HashSet;
use std::fmt;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub use spec::{Liveness, OnFailure, Output, ProcessSpec, Program, ROLE_ARG, Ready, RestartPolicy};
pub use status::{Event, EventKind, Exit, Outcome, ProcessStatus, Report, State};

use supervisor::{Observer, Request, Slot, Supervisor};

/// Why the manager could not do what was asked.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProcessError {
    /// The set of processes is inconsistent (a duplicate name, an unknown or circular
    /// dependency, a liveness topic that is not `shm://`).
    Config(String),
    /// The run has already started (or, for [`ProcessManager::join`], has not).
    State(&'static str),
    /// The supervisor thread could not be started.
    Io(std::io::Error),
    /// The supervisor thread panicked.
    Panicked,
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProcessError::Config(s) => write!(f, "process configuration: {s}"),
            ProcessError::State(s) => write!(f, "process manager: {s}"),
            ProcessError::Io(e) => write!(f, "process manager: {e}"),
            ProcessError::Panicked => f.write_str("process manager: the supervisor panicked"),
        }
    }
}

impl std::error::Error for ProcessError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProcessError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Starts, watches and stops a set of processes (see the [module docs](self)).
pub struct ProcessManager {
    specs: Vec<ProcessSpec>,
    roles: Vec<(String, fn())>,
    on_failure: OnFailure,
    handle_signals: bool,
    observer: Option<Observer>,
    shared: Arc<Mutex<Vec<ProcessStatus>>>,
    running: Option<Running>,
}

struct Running {
    requests: Sender<Request>,
    thread: JoinHandle<Report>,
}

impl Default for ProcessManager {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ProcessManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessManager")
            .field("specs", &self.specs)
            .field("on_failure", &self.on_failure)
            .field("running", &self.running.is_some())
            .finish_non_exhaustive()
    }
}

impl ProcessManager {
    /// An empty manager: stop all on failure, SIGINT/SIGTERM handled during a run.
    pub fn new() -> Self {
        ProcessManager {
            specs: Vec::new(),
            roles: Vec::new(),
            on_failure: OnFailure::StopAll,
            handle_signals: true,
            observer: None,
            shared: Arc::new(Mutex::new(Vec::new())),
            running: None,
        }
    }

    /// Adds a process. Names must be unique.
    pub fn add(&mut self, spec: ProcessSpec) -> Result<(), ProcessError> {
        if self.running.is_some() {
            return Err(ProcessError::State(
                "processes cannot be added to a started run",
            ));
        }
        if self.specs.iter().any(|s| s.name == spec.name) {
            return Err(ProcessError::Config(format!(
                "two processes are named {:?}",
                spec.name
            )));
        }
        self.specs.push(spec);
        Ok(())
    }

    /// Registers `f` as role `role` (for [`ProcessSpec::function`]); see
    /// [`dispatch`](Self::dispatch).
    pub fn register_fn(&mut self, role: impl Into<String>, f: fn()) -> &mut Self {
        self.roles.push((role.into(), f));
        self
    }

    /// Registers `f` and adds a process `name` that runs it (default settings) — ProcLink's
    /// `create_process(target=f)`. The child is this binary re-executed; `f` returning means
    /// exit code 0, a panic 101.
    pub fn add_fn(&mut self, name: impl Into<String>, f: fn()) -> Result<(), ProcessError> {
        let name = name.into();
        self.register_fn(name.clone(), f);
        self.add(ProcessSpec::function(name.clone(), name))
    }

    /// The role this process was started for (`--ringwire-role=NAME` as its first argument),
    /// if it is a child of a manager.
    pub fn role() -> Option<String> {
        let first = std::env::args_os().nth(1)?;
        first.to_str()?.strip_prefix(ROLE_ARG).map(str::to_owned)
    }

    /// In a child started for a registered role: runs that function and exits the process
    /// (0 when it returns). Elsewhere it returns at once. Call it once the roles are
    /// registered and before `main` does anything a child must not do; [`start`](Self::start)
    /// and [`run`](Self::run) call it too. An unknown role exits with status 2.
    pub fn dispatch(&self) {
        let Some(role) = Self::role() else {
            return;
        };
        match self.roles.iter().find(|(r, _)| *r == role) {
            Some((_, f)) => {
                f();
                std::process::exit(0);
            }
            None => {
                eprintln!("ringwire process manager: no function is registered as role {role:?}");
                std::process::exit(2);
            }
        }
    }

    /// What to do when a process fails for good (default [`OnFailure::StopAll`]).
    pub fn on_failure(&mut self, policy: OnFailure) -> &mut Self {
        self.on_failure = policy;
        self
    }

    /// Whether a run stops every process on SIGINT/SIGTERM (default `true`, Unix only).
    /// While a run lasts, those signals no longer end this process; a second one skips the
    /// grace periods. Turn it off when the program handles the signals itself (and then calls
    /// [`terminate_all`](Self::terminate_all)).
    pub fn handle_signals(&mut self, on: bool) -> &mut Self {
        self.handle_signals = on;
        self
    }

    /// Calls `f` with every [`Event`] (on the supervisor thread: keep it short). Events are
    /// also logged through the `log` facade.
    pub fn on_event(&mut self, f: impl FnMut(&Event) + Send + 'static) -> &mut Self {
        self.observer = Some(Box::new(f));
        self
    }

    /// Starts the run: the processes with nothing to wait for start now, the others when
    /// what they come after is ready.
    pub fn start(&mut self) -> Result<(), ProcessError> {
        self.dispatch();
        if self.running.is_some() {
            return Err(ProcessError::State("already started"));
        }
        self.validate()?;
        let signals = if self.handle_signals {
            match signals::Signals::install() {
                Ok(s) => Some(s),
                Err(e) => {
                    log::debug!("process manager: no signal handling: {e}");
                    None
                }
            }
        } else {
            None
        };
        let exe = std::env::current_exe().ok();
        let slots: Vec<Slot> = self.specs.iter().cloned().map(Slot::new).collect();
        *self.shared.lock().unwrap_or_else(|e| e.into_inner()) = supervisor::statuses(&slots);
        let (tx, rx) = mpsc::channel();
        let sup = Supervisor::new(
            slots,
            self.on_failure,
            self.observer.take(),
            Arc::clone(&self.shared),
            rx,
            signals,
            exe,
        );
        let thread = std::thread::Builder::new()
            .name("rw-process-manager".into())
            .spawn(move || sup.run())
            .map_err(ProcessError::Io)?;
        self.running = Some(Running {
            requests: tx,
            thread,
        });
        Ok(())
    }

    /// Waits until every process has ended for good, and reports how.
    pub fn join(&mut self) -> Result<Report, ProcessError> {
        let running = self
            .running
            .take()
            .ok_or(ProcessError::State("not started"))?;
        let report = running.thread.join().map_err(|_| ProcessError::Panicked)?;
        Ok(report)
    }

    /// [`start`](Self::start) and [`join`](Self::join).
    pub fn run(&mut self) -> Result<Report, ProcessError> {
        self.start()?;
        self.join()
    }

    /// Asks every process to stop (SIGTERM, grace period, SIGKILL) and no restarts; returns
    /// at once ([`join`](Self::join) waits). Nothing happens when no run is active.
    pub fn terminate_all(&self) {
        if let Some(running) = &self.running {
            let _ = running.requests.send(Request::Stop);
        }
    }

    /// Every process's status, in the order they were added.
    pub fn status(&self) -> Vec<ProcessStatus> {
        let shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if shared.is_empty() {
            // Not started yet.
            return self
                .specs
                .iter()
                .map(|s| ProcessStatus {
                    name: s.name.clone(),
                    state: State::Waiting,
                    pid: None,
                    since: None,
                    ready: false,
                    restarts: 0,
                    last_exit: None,
                })
                .collect();
        }
        shared.clone()
    }

    fn validate(&self) -> Result<(), ProcessError> {
        let names: HashSet<&str> = self.specs.iter().map(|s| s.name.as_str()).collect();
        for spec in &self.specs {
            for dep in &spec.after {
                if !names.contains(dep.as_str()) {
                    return Err(ProcessError::Config(format!(
                        "{:?} comes after {dep:?}, which is not a process",
                        spec.name
                    )));
                }
            }
            if let Some(l) = &spec.liveness
                && !l.topic.starts_with("shm://")
            {
                return Err(ProcessError::Config(format!(
                    "{:?}: the liveness topic {:?} is not shm://NAME",
                    spec.name, l.topic
                )));
            }
            if let Program::Function { role, .. } = &spec.program
                && !self.roles.iter().any(|(r, _)| r == role)
            {
                return Err(ProcessError::Config(format!(
                    "{:?} runs role {role:?}, which is not registered",
                    spec.name
                )));
            }
        }
        // Cycles: repeatedly take the processes whose dependencies are all taken.
        let mut done: HashSet<&str> = HashSet::new();
        loop {
            let before = done.len();
            for spec in &self.specs {
                if spec.after.iter().all(|d| done.contains(d.as_str())) {
                    done.insert(spec.name.as_str());
                }
            }
            if done.len() == self.specs.len() {
                return Ok(());
            }
            if done.len() == before {
                let mut stuck: Vec<&str> = names.difference(&done).copied().collect();
                stuck.sort_unstable();
                return Err(ProcessError::Config(format!(
                    "circular start order among {}",
                    stuck.join(", ")
                )));
            }
        }
    }
}

impl Drop for ProcessManager {
    /// A manager dropped during a run stops its processes and waits for them.
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.requests.send(Request::Stop);
            let _ = running.thread.join();
        }
    }
}
