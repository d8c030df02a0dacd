//! Where the library's log records go: one call for a program's `main`.
//!
//! ringwire logs through the [`log`] facade and installs nothing by itself, so a program that
//! already has a logger keeps it. A program that has none calls [`setup_logging`] once, as the
//! `ringwire` command and the examples do: records at the level named by the `RINGWIRE_LOG`
//! environment variable (`error`, `warn` — the default —, `info`, `debug`, `trace`, `off`, or a
//! per-module list such as `warn,ringwire::broker=debug`) go to stderr, or, with a directory,
//! to a file there that is rotated daily and whenever it reaches [`LogOptions::max_bytes`], the
//! newest [`LogOptions::keep`] rotated files kept; warnings and errors are then copied to stderr
//! too, so that a failure is never only in a file.
//!
//! ```no_run
//! # fn main() -> Result<(), ringwire::Error> {
//! // Keep the handle for as long as records should be written (it flushes on drop).
//! let _log = ringwire::logging::setup_logging(Some("logs"))?;
//! log::info!("started");
//! # Ok(()) }
//! ```

use std::io;
use std::path::{Path, PathBuf};

use flexi_logger::{
    Age, Cleanup, Criterion, DeferredNow, Duplicate, FileSpec, LogSpecification, Logger,
    LoggerHandle, Naming, Record,
};

use crate::Error;

/// The environment variable naming the level (or per-module levels) of the records written.
pub const LEVEL_VAR: &str = "RINGWIRE_LOG";

/// How [`setup_logging_with`] writes: the defaults are those of [`setup_logging`].
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// The directory of the log files (created if missing); `None` writes to stderr only.
    pub dir: Option<PathBuf>,
    /// The file name's stem: `<basename>_rCURRENT.log` is written, rotated files get a
    /// timestamp in place of `CURRENT`. Default: the program's name.
    pub basename: Option<String>,
    /// The level when `RINGWIRE_LOG` is unset. Default `warn`.
    pub default_level: String,
    /// A file is rotated at this size, and at the first record of each new day. Default 16 MiB.
    pub max_bytes: u64,
    /// Rotated files kept (the oldest are removed). Default 7.
    pub keep: usize,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            dir: None,
            basename: None,
            default_level: "warn".into(),
            max_bytes: 16 << 20,
            keep: 7,
        }
    }
}

/// Keeps the logger writing: records written while it lives are flushed when it is dropped.
#[must_use = "dropping the handle stops file logging at once"]
pub struct LogHandle {
    inner: LoggerHandle,
    file: Option<PathBuf>,
}

impl LogHandle {
    /// The file records go to now, if logging to a directory.
    pub fn current_file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Writes out what is buffered.
    pub fn flush(&self) {
        self.inner.flush();
    }
}

impl std::fmt::Debug for LogHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogHandle")
            .field("file", &self.file)
            .finish()
    }
}

/// Sends log records to stderr, or to rotated files in `dir` (see the module docs), at the
/// level `RINGWIRE_LOG` names (default `warn`). Call it once, early in `main`.
///
/// Errors: a malformed `RINGWIRE_LOG`, a directory that cannot be created or written, or a
/// logger already installed in this process — each with a message naming it.
pub fn setup_logging(dir: Option<impl AsRef<Path>>) -> Result<LogHandle, Error> {
    setup_logging_with(LogOptions {
        dir: dir.map(|d| d.as_ref().to_path_buf()),
        ..LogOptions::default()
    })
}

/// [`setup_logging`] with every option.
pub fn setup_logging_with(options: LogOptions) -> Result<LogHandle, Error> {
    let spec_text = match std::env::var(LEVEL_VAR) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => options.default_level.clone(),
    };
    let spec = LogSpecification::parse(&spec_text).map_err(|e| {
        Error::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{LEVEL_VAR}={spec_text:?} is not a log level or module list: {e}"),
        ))
    })?;
    let logger = Logger::with(spec).format(line);
    let (logger, file) = match &options.dir {
        None => (logger.log_to_stderr(), None),
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::Io(io::Error::new(
                    e.kind(),
                    format!("cannot create the log directory {}: {e}", dir.display()),
                ))
            })?;
            let mut spec = FileSpec::default()
                .directory(dir)
                .suppress_timestamp()
                .suffix("log");
            if let Some(b) = &options.basename {
                spec = spec.basename(b);
            }
            let file = spec.as_pathbuf(Some("rCURRENT"));
            let logger = logger
                .log_to_file(spec)
                .format_for_files(line)
                .rotate(
                    Criterion::AgeOrSize(Age::Day, options.max_bytes),
                    Naming::Timestamps,
                    Cleanup::KeepLogFiles(options.keep),
                )
                .cleanup_in_background_thread(false)
                .append()
                .duplicate_to_stderr(Duplicate::Warn)
                .format_for_stderr(line);
            (logger, Some(file))
        }
    };
    let inner = logger.start().map_err(|e| {
        let place = options
            .dir
            .as_ref()
            .map(|d| format!(" in {}", d.display()))
            .unwrap_or_default();
        Error::Io(io::Error::other(format!(
            "cannot set up logging{place}: {e}"
        )))
    })?;
    Ok(LogHandle { inner, file })
}

/// One record a line: `2026-12-02T06:40:01.123Z WARN ringwire::broker: message`.
fn line(w: &mut dyn io::Write, now: &mut DeferredNow, r: &Record<'_>) -> io::Result<()> {
    write!(
        w,
        "{} {:<5} {}: {}",
        now.format_rfc3339(),
        r.level(),
        r.target(),
        r.args()
    )
}
