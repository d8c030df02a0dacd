//! SIGINT and SIGTERM to the manager's process, while a run lasts (Unix).
//!
//! The handlers only store the signal's number (signal-hook); the supervisor reads it every
//! tick and stops the children. When the last run ends the handlers are removed and the
//! default action (end the process) is back: a handler that emulates it is armed then, since
//! a removed handler does not restore the OS default by itself.

#[cfg(unix)]
mod imp {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, Once};

    use signal_hook::SigId;
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;

    /// Whether a signal should take its default action (no run is active).
    static DEFAULT_ACTION: AtomicBool = AtomicBool::new(true);
    /// Runs that handle signals right now.
    static ACTIVE: Mutex<usize> = Mutex::new(0);
    static ARM_DEFAULT: Once = Once::new();

    /// The handlers of one run.
    pub(crate) struct Signals {
        caught: Arc<AtomicUsize>,
        ids: Vec<SigId>,
    }

    impl Signals {
        pub(crate) fn install() -> std::io::Result<Signals> {
            let mut armed = Ok(());
            ARM_DEFAULT.call_once(|| {
                for sig in [SIGINT, SIGTERM] {
                    if let Err(e) = flag::register_conditional_default(sig, &DEFAULT_ACTION) {
                        armed = Err(e);
                    }
                }
            });
            armed?;
            let caught = Arc::new(AtomicUsize::new(0));
            let mut ids = Vec::new();
            for sig in [SIGINT, SIGTERM] {
                let value = usize::try_from(sig).unwrap_or(usize::MAX);
                ids.push(flag::register_usize(sig, Arc::clone(&caught), value)?);
            }
            let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
            *active += 1;
            DEFAULT_ACTION.store(false, Ordering::SeqCst);
            Ok(Signals { caught, ids })
        }

        /// The signal that arrived since the last call, if any.
        pub(crate) fn take(&self) -> Option<i32> {
            match self.caught.swap(0, Ordering::SeqCst) {
                0 => None,
                sig => i32::try_from(sig).ok(),
            }
        }

        /// Removes the handlers (the default action is back when no other run is active).
        pub(crate) fn release(self) {
            for id in self.ids {
                signal_hook::low_level::unregister(id);
            }
            let mut active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
            *active = active.saturating_sub(1);
            if *active == 0 {
                DEFAULT_ACTION.store(true, Ordering::SeqCst);
            }
        }
    }
}

#[cfg(not(unix))]
mod imp {
    /// No signal handling outside Unix: Ctrl-C in a console ends every process attached to it.
    pub(crate) struct Signals(());

    impl Signals {
        pub(crate) fn install() -> std::io::Result<Signals> {
            Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "signal handling is a Unix feature",
            ))
        }

        pub(crate) fn take(&self) -> Option<i32> {
            None
        }

        pub(crate) fn release(self) {}
    }
}

pub(crate) use imp::Signals;
