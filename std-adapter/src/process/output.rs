//! Where a child's stdout and stderr go ([`Output`]): prefixed lines copied by a thread per
//! pipe, a log file, the manager's own streams, or nowhere.

use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use super::spec::Output;

/// Sets `command`'s stdio for `output` (stdin is always null: a child never reads the
/// manager's terminal).
pub(crate) fn configure(command: &mut Command, output: &Output) -> io::Result<()> {
    command.stdin(Stdio::null());
    match output {
        Output::Prefixed => {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        Output::Inherit => {
            command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        }
        Output::Null => {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
        Output::File(path) => {
            let file = OpenOptions::new().create(true).append(true).open(path)?;
            let again = file.try_clone()?;
            command.stdout(file).stderr(again);
        }
    }
    Ok(())
}

/// Starts the copying threads of a [`Output::Prefixed`] child (nothing for the others). The
/// threads end when the pipe closes: when the child and whatever inherited its pipes exited.
pub(crate) fn forward(child: &mut Child, name: &str) {
    if let Some(out) = child.stdout.take() {
        spawn_copier(out, name, false);
    }
    if let Some(err) = child.stderr.take() {
        spawn_copier(err, name, true);
    }
}

fn spawn_copier(pipe: impl Read + Send + 'static, name: &str, to_stderr: bool) {
    let prefix = format!("[{name}] ").into_bytes();
    let spawned = std::thread::Builder::new()
        .name(format!("rw-out-{name}"))
        .spawn(move || {
            if to_stderr {
                copy_lines(pipe, &prefix, &mut io::stderr());
            } else {
                copy_lines(pipe, &prefix, &mut io::stdout());
            }
        });
    if let Err(e) = spawned {
        log::warn!("{name}: cannot start the output thread: {e}");
    }
}

/// Copies `pipe` to `sink` line by line, each prefixed (a last line without `\n` gets one).
/// Each line is one `write_all` on the locked sink, so lines of different processes never mix.
pub(crate) fn copy_lines<W: WriteLocked>(pipe: impl Read, prefix: &[u8], sink: &mut W) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::with_capacity(256);
    let mut out = Vec::with_capacity(256);
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
        out.clear();
        out.extend_from_slice(prefix);
        out.extend_from_slice(&line);
        if out.last() != Some(&b'\n') {
            out.push(b'\n');
        }
        // A closed terminal is no reason to stop reading: the child would block on a full pipe.
        let _ = sink.write_line(&out);
    }
}

/// A sink that writes a whole line under its lock.
pub(crate) trait WriteLocked {
    /// Writes `line` in one locked `write_all` and flushes.
    fn write_line(&mut self, line: &[u8]) -> io::Result<()>;
}

impl WriteLocked for io::Stdout {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let mut lock = self.lock();
        lock.write_all(line)?;
        lock.flush()
    }
}

impl WriteLocked for io::Stderr {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.lock().write_all(line)
    }
}

impl WriteLocked for Vec<u8> {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.write_all(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_prefixed_and_a_last_partial_line_is_terminated() {
        let mut sink = Vec::new();
        copy_lines(&b"one\ntwo\n\nlast"[..], b"[p] ", &mut sink);
        assert_eq!(sink, b"[p] one\n[p] two\n[p] \n[p] last\n");
    }
}
