//! What to run: one [`ProcessSpec`] per process, built with chained setters.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::Endpoint;

/// The argument that tells a re-executed copy of this binary which registered function to
/// run (`--ringwire-role=NAME`), see [`ProcessManager::dispatch`](super::ProcessManager::dispatch).
pub const ROLE_ARG: &str = "--ringwire-role=";

/// What a process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// A program and its arguments.
    Command {
        /// The program (looked up in `PATH` when it has no `/`).
        program: OsString,
        /// Its arguments.
        args: Vec<OsString>,
    },
    /// A function registered with [`ProcessManager::add_fn`](super::ProcessManager::add_fn):
    /// this binary re-executed with `--ringwire-role=NAME` and then `args`.
    Function {
        /// The role name.
        role: String,
        /// Arguments after the role argument.
        args: Vec<OsString>,
    },
}

/// When a process that ended is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Never: its exit is final (a failure then follows the manager's [`OnFailure`]).
    Never,
    /// After a failure (non-zero exit, a signal, a missed liveness deadline), at most `limit`
    /// times (`None`: without limit), waiting the back-off first. A clean exit is final.
    OnFailure {
        /// How many restarts are allowed; the failure after the last one is final.
        limit: Option<u32>,
    },
    /// After every exit, clean or not, waiting the back-off first.
    Always,
}

/// What the manager does when a process fails for good (no restart left).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Stop every other process (signal, grace period, kill) and end the run with the
    /// failure's exit code.
    #[default]
    StopAll,
    /// Let the others run; the run ends when all have ended.
    KeepRunning,
}

/// Where a process's stdout and stderr go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Output {
    /// Each line is written to the manager's stdout (or stderr) as `[name] line` (a thread
    /// per pipe copies them).
    #[default]
    Prefixed,
    /// The manager's own stdout and stderr, unchanged.
    Inherit,
    /// Both appended to this file (created if missing).
    File(PathBuf),
    /// Discarded.
    Null,
}

/// When a process counts as started, for those that depend on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ready {
    /// As soon as it runs.
    Running,
    /// When its endpoint is bound: `shm://` — the segment exists and its creator lives;
    /// `tcp://` — a connection succeeds (`*` is tried as 127.0.0.1); `ipc://` — the socket
    /// file exists. `inproc://` cannot be seen from another process and is never ready.
    Bound(Endpoint),
}

/// A liveness watchdog: the process must publish on `topic` (any message counts) at least
/// once per `deadline`, or it is treated as failed — stopped (signal, grace, kill) and handled
/// by its [`RestartPolicy`]. The first message is due `deadline` after the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Liveness {
    /// A shm publisher the process binds or connects to (`shm://NAME`).
    pub topic: String,
    /// The longest quiet time allowed.
    pub deadline: Duration,
}

/// One process the manager runs.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    pub(crate) name: String,
    pub(crate) program: Program,
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) restart: RestartPolicy,
    pub(crate) backoff: (Duration, Duration),
    pub(crate) grace: Duration,
    pub(crate) output: Output,
    pub(crate) ready: Ready,
    pub(crate) after: Vec<String>,
    pub(crate) liveness: Option<Liveness>,
}

impl ProcessSpec {
    /// Runs `program` with `args`.
    pub fn command<I, A>(name: impl Into<String>, program: impl Into<OsString>, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        Self::new(
            name.into(),
            Program::Command {
                program: program.into(),
                args: args.into_iter().map(Into::into).collect(),
            },
        )
    }

    /// Runs the function registered as `role` in a copy of this binary.
    pub fn function(name: impl Into<String>, role: impl Into<String>) -> Self {
        Self::new(
            name.into(),
            Program::Function {
                role: role.into(),
                args: Vec::new(),
            },
        )
    }

    fn new(name: String, program: Program) -> Self {
        ProcessSpec {
            name,
            program,
            env: Vec::new(),
            cwd: None,
            restart: RestartPolicy::Never,
            backoff: (Duration::from_millis(100), Duration::from_secs(10)),
            grace: Duration::from_secs(2),
            output: Output::Prefixed,
            ready: Ready::Running,
            after: Vec::new(),
            liveness: None,
        }
    }

    /// Its name (unique within a manager).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it runs.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Appends arguments (for a function: after the role argument).
    pub fn args<I, A>(mut self, more: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<OsString>,
    {
        let list = match &mut self.program {
            Program::Command { args, .. } | Program::Function { args, .. } => args,
        };
        list.extend(more.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for it (the rest of the manager's environment is inherited).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Its working directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Its restart policy (default [`RestartPolicy::Never`]).
    pub fn restart(mut self, policy: RestartPolicy) -> Self {
        self.restart = policy;
        self
    }

    /// The restart back-off: the first restart waits `initial`, each further one twice the
    /// last, up to `max` (default 100 ms and 10 s). A process that ran at least `max` before it
    /// ended starts over at `initial`.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff = (initial, max.max(initial));
        self
    }

    /// How long a stop waits after SIGTERM before SIGKILL (default 2 s).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Where its stdout and stderr go (default [`Output::Prefixed`]).
    pub fn output(mut self, output: Output) -> Self {
        self.output = output;
        self
    }

    /// When it counts as started for the processes that wait for it (default
    /// [`Ready::Running`]).
    pub fn ready_when(mut self, ready: Ready) -> Self {
        self.ready = ready;
        self
    }

    /// Starts it only once the process `name` is ready (see [`ready_when`](Self::ready_when)).
    pub fn after(mut self, name: impl Into<String>) -> Self {
        self.after.push(name.into());
        self
    }

    /// Watches its liveness (see [`Liveness`]).
    pub fn liveness(mut self, topic: impl Into<String>, deadline: Duration) -> Self {
        self.liveness = Some(Liveness {
            topic: topic.into(),
            deadline,
        });
        self
    }
}
