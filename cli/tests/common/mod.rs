//! What the CLI's test files share: running `ringwire` as a subprocess with a watchdog.
#![allow(dead_code)] // each test file uses its own subset

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// The `ringwire` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ringwire");

/// A TCP port nothing listens on right now.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Held while a test writes a file it will execute and while it starts a process.
///
/// A process forked by one test thread inherits every descriptor open at that moment until
/// it execs; if another thread is writing an executable then, executing that file fails
/// with `ETXTBSY` ("Text file busy"). `Command::spawn` returns only once the child has
/// exec'd, so doing both under one lock closes the window.
static EXEC_LOCK: Mutex<()> = Mutex::new(());

fn exec_lock() -> MutexGuard<'static, ()> {
    EXEC_LOCK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts `cmd` under the lock that file writes of executables take (see `EXEC_LOCK`).
pub fn spawn_command(cmd: &mut Command) -> Child {
    let _guard = exec_lock();
    cmd.spawn().unwrap()
}

/// Writes an executable file (mode 0755 on Unix) that a test will run.
pub fn write_executable(path: &Path, contents: &[u8]) {
    let _guard = exec_lock();
    std::fs::write(path, contents).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// `ringwire ARGS` with stdin, stdout and stderr piped.
pub fn spawn(args: &[&str]) -> Child {
    spawn_command(
        Command::new(BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    )
}

/// Waits for the child with a watchdog (a hung CLI fails the test instead of hanging it).
pub fn finish(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("ringwire CLI did not exit");
        }
        thread::sleep(Duration::from_millis(10));
    }
    let mut out = Vec::new();
    if let Some(mut s) = child.stdout.take() {
        s.read_to_end(&mut out).unwrap();
    }
    let mut err = Vec::new();
    if let Some(mut s) = child.stderr.take() {
        s.read_to_end(&mut err).unwrap();
    }
    Output {
        status: child.wait().unwrap(),
        stdout: out,
        stderr: err,
    }
}

/// `ringwire ARGS` with an empty stdin, to its end.
pub fn run(args: &[&str]) -> Output {
    let mut c = spawn(args);
    drop(c.stdin.take());
    finish(c)
}

/// Sends `sig` (`INT`, `TERM`) to `child` with kill(1).
pub fn signal(child: &Child, sig: &str) {
    let ok = finish(spawn_command(
        Command::new("kill").args([&format!("-{sig}"), &child.id().to_string()]),
    ))
    .status
    .success();
    assert!(ok, "kill -{sig}");
}
