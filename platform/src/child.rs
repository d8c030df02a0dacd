//! Child processes tied to their parent, for a process manager.
//!
//! [`tie_to_parent`] prepares a [`Command`] so that the child it spawns
//! - on Unix, leads a process group of its own (its pgid is its pid), so that
//!   [`signal_group`] reaches the child and everything it started, and a Ctrl-C typed at the
//!   manager's terminal reaches only the manager, which then stops its children in order;
//! - on Linux and Android, receives SIGKILL when the *thread* that spawned it ends
//!   (`prctl(PR_SET_PDEATHSIG)`), so it never outlives a manager that was `kill -9`ed. The
//!   child checks after the `prctl` that its parent is still the process that forked it (the
//!   parent may have died between the fork and the `prctl`, when the death signal was not yet
//!   armed); if not, the spawn fails and the child exits.
//!
//! Other Unix systems (macOS, the BSDs) have no parent-death signal: a child there survives
//! a manager killed with SIGKILL (a manager that exits normally stops its children first).
//! Windows has no process groups here ([`signal_group`] returns
//! [`io::ErrorKind::Unsupported`]); a [`KillOnExit`] job object ends the children with their
//! manager instead.
#![allow(unsafe_code)]

use std::io;
use std::process::Command;

/// Whether a child of [`tie_to_parent`] (Linux) or [`KillOnExit::adopt`] (Windows) dies with
/// its parent on this OS.
pub const DIES_WITH_PARENT: bool = cfg!(any(target_os = "linux", target_os = "android", windows));

/// Prepares `command` as the module docs say (own process group; death signal on Linux).
///
/// On Linux the death signal fires when the spawning *thread* ends, not the process: spawn
/// from a thread that outlives the child.
pub fn tie_to_parent(command: &mut Command) {
    #[cfg(not(unix))]
    let _ = command;
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use std::os::unix::process::CommandExt;
        let parent = rustix::process::getpid();
        let hook = move || -> io::Result<()> {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
            if rustix::process::getppid() != Some(parent) {
                // The parent died before the death signal was armed: nobody would stop us.
                return Err(io::Error::from(rustix::io::Errno::SRCH));
            }
            Ok(())
        };
        // SAFETY: `pre_exec` runs the hook in the forked child before `exec`, where only
        // async-signal-safe work is allowed. The hook makes two raw system calls (`prctl`,
        // `getppid`) through rustix, which neither allocates nor takes locks, and builds its
        // error from an errno (no allocation). It touches no memory shared with the parent's
        // other threads: `parent` is a copied integer.
        unsafe {
            command.pre_exec(hook);
        }
    }
}

/// A signal [`signal_group`] sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupSignal {
    /// SIGTERM: please stop.
    Terminate,
    /// SIGINT: as if Ctrl-C was typed.
    Interrupt,
    /// SIGKILL: stop now.
    Kill,
}

/// Sends `signal` to the process group `pgid` (a child of [`tie_to_parent`]: its pid).
///
/// A group that no longer exists is not an error (`Ok(false)`); `Ok(true)` means delivered.
/// Only call this with the pid of a child not yet reaped, or a group known to exist: a pid
/// that was waited for may be reused.
pub fn signal_group(pgid: u32, signal: GroupSignal) -> io::Result<bool> {
    #[cfg(unix)]
    {
        use rustix::process::{Pid, Signal, kill_process_group};
        let pid = i32::try_from(pgid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a process id"))?;
        let sig = match signal {
            GroupSignal::Terminate => Signal::TERM,
            GroupSignal::Interrupt => Signal::INT,
            GroupSignal::Kill => Signal::KILL,
        };
        match kill_process_group(pid, sig) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::SRCH) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (pgid, signal);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "process groups are a Unix feature",
        ))
    }
}

/// Whether the child `pid` of this process has ended, without reaping it: its zombie keeps
/// the pid (and so its process group id) reserved, so [`signal_group`] can still reach what
/// it left running, before `Child::wait` reaps it.
///
/// `Ok(None)` where the OS cannot tell without reaping (Windows, OpenBSD): use `try_wait`.
pub fn has_exited(pid: u32) -> io::Result<Option<bool>> {
    #[cfg(all(unix, not(target_os = "openbsd")))]
    {
        use rustix::process::{Pid, WaitId, WaitIdOptions, waitid};
        let pid = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a process id"))?;
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        Ok(Some(waitid(WaitId::Pid(pid), options)?.is_some()))
    }
    #[cfg(not(all(unix, not(target_os = "openbsd"))))]
    {
        let _ = pid;
        Ok(None)
    }
}

/// Children that end with this process, whatever ends it — Windows' answer to the death
/// signal: a job object with `JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE`. When the last handle to the
/// job closes (this value is dropped, or the process dies, even by `TerminateProcess`) the OS
/// terminates every process in the job; processes that an adopted child starts later join it
/// too. Elsewhere it does nothing ([`tie_to_parent`] covers Linux).
pub struct KillOnExit {
    #[cfg(windows)]
    job: windows_sys::Win32::Foundation::HANDLE,
}

// SAFETY: the only field is a job object handle, a kernel handle that any thread of the
// process may use or close; nothing here refers to thread-local state.
#[cfg(windows)]
unsafe impl Send for KillOnExit {}

impl KillOnExit {
    /// A new, empty set.
    pub fn new() -> io::Result<Self> {
        #[cfg(windows)]
        {
            use windows_sys::Win32::Foundation::CloseHandle;
            use windows_sys::Win32::System::JobObjects::{
                CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
                JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation,
                SetInformationJobObject,
            };
            // SAFETY: null attributes and a null name are allowed (an anonymous job with the
            // default security); a null result means failure.
            let job = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
            if job.is_null() {
                return Err(io::Error::last_os_error());
            }
            let mut info = JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
            info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
            let len = u32::try_from(std::mem::size_of_val(&info)).unwrap_or(u32::MAX);
            // SAFETY: `job` is the valid handle created above; the pointer and length describe
            // `info`, a live local of the type this information class expects.
            let ok = unsafe {
                SetInformationJobObject(
                    job,
                    JobObjectExtendedLimitInformation,
                    (&raw const info).cast(),
                    len,
                )
            };
            if ok == 0 {
                let err = io::Error::last_os_error();
                // SAFETY: `job` is valid and closed once, here.
                unsafe { CloseHandle(job) };
                return Err(err);
            }
            Ok(KillOnExit { job })
        }
        #[cfg(not(windows))]
        {
            Ok(KillOnExit {})
        }
    }

    /// Adds `child` to the set.
    pub fn adopt(&self, child: &std::process::Child) -> io::Result<()> {
        #[cfg(windows)]
        {
            use std::os::windows::io::AsRawHandle;
            use windows_sys::Win32::System::JobObjects::AssignProcessToJobObject;
            // SAFETY: `self.job` is a valid job handle until drop; the process handle is
            // borrowed from `child`, which owns it and outlives this call.
            let ok = unsafe { AssignProcessToJobObject(self.job, child.as_raw_handle()) };
            if ok == 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
        #[cfg(not(windows))]
        {
            let _ = child;
            Ok(())
        }
    }
}

#[cfg(windows)]
impl Drop for KillOnExit {
    fn drop(&mut self) {
        // SAFETY: `self.job` is the valid handle from `new`, closed once, here.
        unsafe { windows_sys::Win32::Foundation::CloseHandle(self.job) };
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn child_leads_its_own_group_and_the_group_can_be_killed() {
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        tie_to_parent(&mut cmd);
        let mut child = cmd.spawn().expect("spawn sleep");
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).unwrap();
        // Fields after the command name: state, ppid, pgrp.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let pgrp: u32 = rest.split(' ').nth(2).unwrap().parse().unwrap();
        assert_eq!(pgrp, child.id());
        assert!(signal_group(child.id(), GroupSignal::Kill).unwrap());
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9));
    }
}
