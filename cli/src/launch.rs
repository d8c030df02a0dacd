//! `ringwire launch FILE.toml`: start the processes a launch file lists under a
//! `ringwire::process::ProcessManager`, print a status line per process as it changes, and
//! exit with the run's code (the first failure's code under `on_failure = "stop-all"`, 130
//! after SIGINT). A file that cannot be used is an error naming its line and key (exit 2).
//! Format: docs/process.md.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use ringwire::Endpoint;
use ringwire::process::{
    OnFailure, Output, ProcessManager, ProcessSpec, Ready, RestartPolicy, State,
};
use serde::Deserialize;
use toml::Spanned;

/// `ringwire launch` arguments.
#[derive(Args)]
pub struct LaunchArgs {
    /// The launch file (TOML; format in docs/process.md).
    file: PathBuf,
    /// Check the file and print the names of its processes, without starting them.
    #[arg(long)]
    check: bool,
    /// Also print every process's status line this often (0: only when something changes).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    status_every_ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    on_failure: Option<Spanned<FailureWord>>,
    /// Default grace period of every process.
    #[serde(default)]
    grace_ms: Option<u64>,
    /// A directory for one log file per process (NAME.log) instead of prefixed output.
    #[serde(default)]
    log_dir: Option<PathBuf>,
    #[serde(default)]
    process: Vec<Spanned<Process>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum FailureWord {
    StopAll,
    KeepRunning,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum RestartWord {
    Never,
    OnFailure,
    Always,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum OutputWord {
    Prefixed,
    Inherit,
    Null,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Process {
    name: Spanned<String>,
    command: Spanned<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    cwd: Option<PathBuf>,
    #[serde(default)]
    restart: Option<RestartWord>,
    #[serde(default)]
    max_restarts: Option<Spanned<u32>>,
    #[serde(default)]
    backoff_ms: Option<u64>,
    #[serde(default)]
    backoff_max_ms: Option<u64>,
    #[serde(default)]
    grace_ms: Option<u64>,
    #[serde(default)]
    ready: Option<Spanned<String>>,
    #[serde(default)]
    after: Vec<Spanned<String>>,
    #[serde(default)]
    liveness: Option<Spanned<String>>,
    #[serde(default)]
    deadline_ms: Option<Spanned<u64>>,
    #[serde(default)]
    output: Option<OutputWord>,
    #[serde(default)]
    log: Option<PathBuf>,
}

/// A launch file that cannot be used: where, which key, why.
#[derive(Debug)]
pub struct FileError {
    path: String,
    line: usize,
    column: usize,
    key: String,
    message: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: ", self.path, self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "key `{}`: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Line and column (from 1) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, column)
}

/// The key written on the line of `offset`: the text before `=`, or a `[table]` header.
fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[start..end].trim();
    if let Some((key, _)) = line.split_once('=') {
        return key.trim().to_owned();
    }
    if line.starts_with('[') {
        return line
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_owned();
    }
    String::new()
}

struct Source<'a> {
    path: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn error(&self, span: Option<Range<usize>>, key: Option<&str>, message: String) -> FileError {
        let offset = span.map_or(0, |s| s.start);
        let (line, column) = line_col(self.text, offset);
        FileError {
            path: self.path.to_owned(),
            line,
            column,
            key: key.map_or_else(|| key_at(self.text, offset), str::to_owned),
            message,
        }
    }
}

/// Parses and checks a launch file into a manager (processes in file order).
pub fn load(path: &Path, text: &str) -> Result<ProcessManager, FileError> {
    let src = Source {
        path: &path.display().to_string(),
        text,
    };
    let file: File = toml::from_str(text)
        .map_err(|e| src.error(e.span(), None, e.message().trim().to_owned()))?;
    let mut manager = ProcessManager::new();
    if let Some(word) = &file.on_failure {
        manager.on_failure(match word.get_ref() {
            FailureWord::StopAll => OnFailure::StopAll,
            FailureWord::KeepRunning => OnFailure::KeepRunning,
        });
    }
    if file.process.is_empty() {
        return Err(src.error(None, Some("process"), "no [[process]] listed".into()));
    }
    let names: HashSet<&str> = file
        .process
        .iter()
        .map(|p| p.get_ref().name.get_ref().as_str())
        .collect();
    let mut seen = HashSet::new();
    for p in &file.process {
        let p = p.get_ref();
        let name = p.name.get_ref();
        if name.is_empty() || !seen.insert(name.as_str()) {
            let why = if name.is_empty() {
                "a process name is empty".to_owned()
            } else {
                format!("a second process is named {name:?}")
            };
            return Err(src.error(Some(p.name.span()), Some("name"), why));
        }
        let command: OsString = if p.command.get_ref() == "ringwire" {
            // This very program, wherever it is installed.
            std::env::current_exe()
                .map(PathBuf::into_os_string)
                .unwrap_or_else(|_| "ringwire".into())
        } else if p.command.get_ref().is_empty() {
            return Err(src.error(
                Some(p.command.span()),
                Some("command"),
                "the command is empty".into(),
            ));
        } else {
            p.command.get_ref().into()
        };
        let mut spec = ProcessSpec::command(name.clone(), command, p.args.iter());
        for (k, v) in &p.env {
            spec = spec.env(k, v);
        }
        if let Some(dir) = &p.cwd {
            spec = spec.current_dir(dir);
        }
        let limit = p.max_restarts.as_ref().map(|m| *m.get_ref());
        spec = spec.restart(match p.restart.unwrap_or(RestartWord::Never) {
            RestartWord::Never => {
                if let Some(m) = &p.max_restarts {
                    return Err(src.error(
                        Some(m.span()),
                        Some("max_restarts"),
                        "max_restarts needs restart = \"on-failure\"".into(),
                    ));
                }
                RestartPolicy::Never
            }
            RestartWord::OnFailure => RestartPolicy::OnFailure { limit },
            RestartWord::Always => RestartPolicy::Always,
        });
        let initial = Duration::from_millis(p.backoff_ms.unwrap_or(100));
        let max = Duration::from_millis(p.backoff_max_ms.unwrap_or(10_000));
        spec = spec.backoff(initial, max);
        if let Some(g) = p.grace_ms.or(file.grace_ms) {
            spec = spec.grace(Duration::from_millis(g));
        }
        if let Some(ready) = &p.ready {
            let ep = endpoint(&src, ready, "ready")?;
            if matches!(ep, Endpoint::Inproc(_)) {
                return Err(src.error(
                    Some(ready.span()),
                    Some("ready"),
                    "inproc:// cannot be seen from another process".into(),
                ));
            }
            spec = spec.ready_when(Ready::Bound(ep));
        }
        for dep in &p.after {
            if !names.contains(dep.get_ref().as_str()) {
                return Err(src.error(
                    Some(dep.span()),
                    Some("after"),
                    format!("{:?} is not a process of this file", dep.get_ref()),
                ));
            }
            spec = spec.after(dep.get_ref().clone());
        }
        match (&p.liveness, &p.deadline_ms) {
            (Some(topic), Some(deadline)) => {
                if !matches!(endpoint(&src, topic, "liveness")?, Endpoint::Shm(_)) {
                    return Err(src.error(
                        Some(topic.span()),
                        Some("liveness"),
                        "the liveness topic must be shm://NAME".into(),
                    ));
                }
                spec = spec.liveness(
                    topic.get_ref().clone(),
                    Duration::from_millis(*deadline.get_ref()),
                );
            }
            (Some(topic), None) => {
                return Err(src.error(
                    Some(topic.span()),
                    Some("liveness"),
                    "liveness needs deadline_ms".into(),
                ));
            }
            (None, Some(deadline)) => {
                return Err(src.error(
                    Some(deadline.span()),
                    Some("deadline_ms"),
                    "deadline_ms needs a liveness topic".into(),
                ));
            }
            (None, None) => {}
        }
        let output = if let Some(log) = &p.log {
            Output::File(log.clone())
        } else if let Some(dir) = &file.log_dir {
            Output::File(dir.join(format!("{name}.log")))
        } else {
            match p.output.unwrap_or(OutputWord::Prefixed) {
                OutputWord::Prefixed => Output::Prefixed,
                OutputWord::Inherit => Output::Inherit,
                OutputWord::Null => Output::Null,
            }
        };
        spec = spec.output(output);
        manager
            .add(spec)
            .map_err(|e| src.error(Some(p.name.span()), Some("name"), e.to_string()))?;
    }
    if let Some(dir) = &file.log_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            src.error(
                None,
                Some("log_dir"),
                format!("cannot create {}: {e}", dir.display()),
            )
        })?;
    }
    // A cycle among `after` lists: the manager's check, located at the first process.
    if let Some(cycle) = find_cycle(&file.process) {
        let p = file.process[cycle].get_ref();
        let span = p.after.first().map(Spanned::span);
        return Err(src.error(
            span,
            Some("after"),
            format!("{:?} is part of a circular start order", p.name.get_ref()),
        ));
    }
    Ok(manager)
}

fn endpoint(src: &Source<'_>, value: &Spanned<String>, key: &str) -> Result<Endpoint, FileError> {
    value
        .get_ref()
        .parse()
        .map_err(|e: ringwire::endpoint::EndpointError| {
            src.error(Some(value.span()), Some(key), e.to_string())
        })
}

/// The index of a process that cannot start because its `after` lists loop back to it.
fn find_cycle(processes: &[Spanned<Process>]) -> Option<usize> {
    let mut done: HashSet<&str> = HashSet::new();
    loop {
        let before = done.len();
        for p in processes {
            let p = p.get_ref();
            if p.after.iter().all(|d| done.contains(d.get_ref().as_str())) {
                done.insert(p.name.get_ref());
            }
        }
        if done.len() == processes.len() {
            return None;
        }
        if done.len() == before {
            return processes
                .iter()
                .position(|p| !done.contains(p.get_ref().name.get_ref().as_str()));
        }
    }
}

/// Runs `ringwire launch`.
pub fn main(args: &LaunchArgs) -> u8 {
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ringwire launch: cannot read {}: {e}", args.file.display());
            return 2;
        }
    };
    let mut manager = match load(&args.file, &text) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("ringwire launch: {e}");
            return 2;
        }
    };
    if args.check {
        for st in manager.status() {
            println!("{}", st.name);
        }
        return 0;
    }
    let started = Instant::now();
    manager.on_event(move |event| {
        let t = started.elapsed().as_secs_f64();
        // A closed stderr is no reason to stop supervising.
        let _ = writeln!(std::io::stderr(), "[launch {t:8.3}] {event}");
    });
    if let Err(e) = manager.start() {
        eprintln!("ringwire launch: {e}");
        return 2;
    }
    if args.status_every_ms > 0 {
        let every = Duration::from_millis(args.status_every_ms);
        let mut next = Instant::now() + every;
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let all = manager.status();
            if all.iter().all(|s| s.state == State::Exited) {
                break;
            }
            if Instant::now() >= next {
                next += every;
                print_status(&all);
            }
        }
    }
    let report = match manager.join() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ringwire launch: {e}");
            return 3;
        }
    };
    print_status(&report.processes);
    let code = report.exit_code();
    let _ = writeln!(
        std::io::stderr(),
        "[launch] ended: {:?}, exit code {code}",
        report.outcome
    );
    u8::try_from(code).unwrap_or(1)
}

fn print_status(all: &[ringwire::process::ProcessStatus]) {
    for st in all {
        let since = st
            .since
            .filter(|_| matches!(st.state, State::Running | State::Stopping))
            .and_then(|s| s.elapsed().ok())
            .map_or_else(String::new, |d| format!(" for {:.1} s", d.as_secs_f64()));
        let pid = st.pid.map_or_else(String::new, |p| format!(" pid {p}"));
        let last = st
            .last_exit
            .as_ref()
            .map_or_else(String::new, |e| format!(", last: {e}"));
        let _ = writeln!(
            std::io::stderr(),
            "[status] {}: {}{pid}{since}, restarts {}{last}",
            st.name,
            st.state,
            st.restarts
        );
    }
}
