//! Is the process that wrote this pid into a segment still running?
//!
//! A pid alone is not enough: pids are reused, so a segment whose creator died long ago could
//! name an unrelated live process. A [`ProcessStamp`] pairs the pid with the process start
//! time; a process is alive only if a process with that pid exists, is not a zombie, and
//! started at that time.
//!
//! - Linux: `/proc/<pid>/stat`, field 3 (state; `Z`/`X` count as dead, so a killed child that
//!   its parent has not reaped yet is already dead) and field 22 (start time in clock ticks
//!   since boot). Fields are read after the last `)`, as the command name may hold spaces and
//!   parentheses.
//! - Other Unix (macOS): `kill(pid, 0)` only (start time unknown, recorded as 0). A reused pid
//!   reads as alive there: the fallback errs on the side of not reclaiming.
//! - Windows: `OpenProcess` + `GetExitCodeProcess`, creation time from `GetProcessTimes`.
//!
//! Any process can write any pid into a segment, and this check calls a forged pid of a live
//! process alive. So on Linux the owners and the creator of a segment of the current layout are
//! judged by the kernel-released locks they hold on the segment file instead
//! ([`crate::claims`], [`crate::cleanup::creator_alive`]); this module is the rule where those
//! locks do not exist (macOS, Windows, and the creators of layout-version-2 segments).

/// A process identity that survives pid reuse: pid plus start time (0 = unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProcessStamp {
    /// Process id.
    pub pid: u32,
    /// OS-specific start time (Linux: clock ticks since boot), or 0 if unknown.
    pub start_time: u64,
}

impl ProcessStamp {
    /// The calling process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self {
            pid,
            start_time: start_time(pid).unwrap_or(0),
        }
    }

    /// The running process `pid`, if there is one.
    pub fn of(pid: u32) -> Option<Self> {
        if !is_alive(pid, 0) {
            return None;
        }
        Some(Self {
            pid,
            start_time: start_time(pid).unwrap_or(0),
        })
    }

    /// Whether this exact process is still running.
    pub fn is_alive(&self) -> bool {
        is_alive(self.pid, self.start_time)
    }
}

/// Whether a process `pid` that started at `start_time` (0: any start time) is running.
/// Pid 0 is never alive (it is what an unset header field holds).
pub fn is_alive(pid: u32, start_time: u64) -> bool {
    if pid == 0 {
        return false;
    }
    imp::is_alive(pid, start_time)
}

/// The start time of process `pid`, if it exists and the OS tells.
pub fn start_time(pid: u32) -> Option<u64> {
    imp::start_time(pid)
}

#[cfg(target_os = "linux")]
mod imp {
    /// `(state, start_time)` from `/proc/<pid>/stat`.
    fn stat(pid: u32) -> Option<(char, u64)> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        parse_stat(&text)
    }

    pub(super) fn parse_stat(text: &str) -> Option<(char, u64)> {
        let after_comm = &text[text.rfind(')')? + 1..];
        let mut fields = after_comm.split_ascii_whitespace();
        let state = fields.next()?.chars().next()?;
        // Field 3 was `state`; field 22 (`starttime`) is 19 further on.
        let start = fields.nth(18)?.parse().ok()?;
        Some((state, start))
    }

    pub(super) fn is_alive(pid: u32, start_time: u64) -> bool {
        match stat(pid) {
            None => false,
            Some(('Z' | 'X' | 'x', _)) => false,
            Some((_, started)) => start_time == 0 || started == start_time,
        }
    }

    pub(super) fn start_time(pid: u32) -> Option<u64> {
        stat(pid).map(|(_, s)| s)
    }
}

#[cfg(all(unix, not(target_os = "linux")))]
mod imp {
    use rustix::io::Errno;
    use rustix::process::{Pid, test_kill_process};

    pub(super) fn is_alive(pid: u32, _start_time: u64) -> bool {
        let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
            return false;
        };
        // EPERM: it exists but belongs to someone else.
        matches!(test_kill_process(pid), Ok(()) | Err(Errno::PERM))
    }

    pub(super) fn start_time(_pid: u32) -> Option<u64> {
        None
    }
}

#[cfg(windows)]
#[path = "liveness_windows.rs"]
mod imp;

/// Windows' claim-recovery verdict (see [`crate::claims`]).
#[cfg(windows)]
pub(crate) fn windows_certainly_dead(pid: u32) -> bool {
    imp::certainly_dead(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_is_alive() {
        let me = ProcessStamp::current();
        assert_eq!(me.pid, std::process::id());
        assert!(me.is_alive());
        assert_eq!(ProcessStamp::of(me.pid), Some(me));
    }

    #[test]
    fn pid_zero_and_absurd_pids_are_dead() {
        assert!(!is_alive(0, 0));
        assert!(!is_alive(u32::MAX, 0));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn wrong_start_time_means_a_reused_pid() {
        let me = ProcessStamp::current();
        assert_ne!(me.start_time, 0);
        assert!(!is_alive(me.pid, me.start_time + 1));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn parses_stat_with_awkward_command_names() {
        let line = "42 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 123456 19 20";
        assert_eq!(imp::parse_stat(line), Some(('S', 123456)));
        assert_eq!(imp::parse_stat("42 (x) Z"), None);
        assert_eq!(imp::parse_stat("garbage"), None);
    }
}
