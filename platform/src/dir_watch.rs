//! Waking when a named segment appears, instead of polling for it.
//!
//! A socket that connects before its peer has bound waits for the segment file. On Linux,
//! where POSIX shm objects are files in `/dev/shm`, [`SegmentWatch`] asks the kernel (inotify)
//! to report entries of that directory being created, renamed in or resized, and wakes only
//! for the segment's own file name; elsewhere [`SegmentWatch::new`] returns `None` and the
//! caller keeps polling with a back-off.
//!
//! The watch must exist before the caller's last look for the file, or a creation in between
//! would be missed: create the watch, try to open once more, and only then [`wait`].
//! Writes through a mapping (a creator filling in the header) raise no event: only the
//! file's creation and sizing do, so a caller still polls while a found segment finishes
//! initialising.
//!
//! [`wait`]: SegmentWatch::wait

use std::time::Duration;

use crate::name::SegmentName;

/// A watch on the shm directory for one segment's file (Linux: inotify).
#[derive(Debug)]
pub struct SegmentWatch {
    #[cfg(target_os = "linux")]
    fd: std::os::fd::OwnedFd,
    /// The file name in the directory (`ringwire.<name>`).
    #[cfg(target_os = "linux")]
    file: Vec<u8>,
    #[cfg(not(target_os = "linux"))]
    _never: std::convert::Infallible,
}

/// Why [`SegmentWatch::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The segment's file was created, renamed in or resized (or events were lost): look
    /// again.
    Changed,
    /// The timeout passed with no such event.
    TimedOut,
    /// The watch no longer works (the directory went away): poll instead.
    Broken,
}

#[cfg(target_os = "linux")]
impl SegmentWatch {
    /// Starts watching the shm directory for `name`'s file; `None` if it cannot (no inotify
    /// instance left, no such directory), in which case the caller polls.
    pub fn new(name: &SegmentName) -> Option<Self> {
        use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

        let dir = crate::segment::posix_shm_dir()?;
        let os = name.os_name();
        let file = os.strip_prefix('/').unwrap_or(&os).as_bytes().to_vec();
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
            .map_err(|e| log::debug!("inotify_init1: {e}"))
            .ok()?;
        let flags = WatchFlags::CREATE | WatchFlags::MOVED_TO | WatchFlags::MODIFY;
        inotify::add_watch(&fd, dir, flags)
            .map_err(|e| log::debug!("inotify_add_watch {}: {e}", dir.display()))
            .ok()?;
        Some(Self { fd, file })
    }

    /// Waits at most `timeout` for an event on the segment's file (events on other files are
    /// read and ignored).
    pub fn wait(&mut self, timeout: Duration) -> Woken {
        use rustix::event::{PollFd, PollFlags};
        use rustix::fs::inotify::{ReadFlags, Reader};
        use rustix::io::Errno;

        let until = std::time::Instant::now() + timeout;
        loop {
            let left = until.saturating_duration_since(std::time::Instant::now());
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            match crate::readiness::poll(&mut fds, Some(&crate::readiness::timespec(left))) {
                Ok(0) => return Woken::TimedOut,
                Ok(_) => {}
                Err(Errno::INTR) => continue,
                Err(e) => {
                    log::debug!("poll on inotify: {e}");
                    return Woken::Broken;
                }
            }
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
            let mut events = Reader::new(&self.fd, &mut buf);
            let mut woken = None;
            loop {
                match events.next() {
                    Ok(e) if e.events().contains(ReadFlags::IGNORED) => {
                        woken = Some(Woken::Broken);
                    }
                    Ok(e) if e.events().contains(ReadFlags::QUEUE_OVERFLOW) => {
                        woken = woken.or(Some(Woken::Changed));
                    }
                    Ok(e) => {
                        if e.file_name().map(|f| f.to_bytes()) == Some(&self.file[..]) {
                            woken = woken.or(Some(Woken::Changed));
                        }
                    }
                    Err(Errno::AGAIN | Errno::INTR) => break,
                    Err(e) => {
                        log::debug!("reading inotify events: {e}");
                        return Woken::Broken;
                    }
                }
            }
            if let Some(w) = woken {
                return w;
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl SegmentWatch {
    /// `None`: this OS shows no shm directory to watch; the caller polls.
    pub fn new(name: &SegmentName) -> Option<Self> {
        let _ = name;
        None
    }

    /// Never called (no watch exists here).
    pub fn wait(&mut self, timeout: Duration) -> Woken {
        let _ = timeout;
        match self._never {}
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::segment::{CreateOptions, Segment};

    fn name(tag: &str) -> SegmentName {
        SegmentName::new(&format!("t-watch-{tag}-{}", std::process::id())).unwrap()
    }

    #[test]
    fn wakes_for_its_segment_only() {
        let mine = name("mine");
        let other = name("other");
        let mut watch = SegmentWatch::new(&mine).expect("inotify on /dev/shm");
        assert_eq!(watch.wait(Duration::ZERO), Woken::TimedOut);
        let _other = Segment::create_with(&other, 4096, &CreateOptions::default()).unwrap();
        assert_eq!(watch.wait(Duration::ZERO), Woken::TimedOut);
        let _mine = Segment::create_with(&mine, 4096, &CreateOptions::default()).unwrap();
        // The creation is already queued: no waiting needed to see it.
        assert_eq!(watch.wait(Duration::ZERO), Woken::Changed);
    }
}
