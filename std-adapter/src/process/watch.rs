//! What the supervisor looks at besides exit statuses: whether a process's endpoint is bound
//! (its dependents may start) and whether its liveness topic is still publishing.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use ringwire_platform::SegmentName;
use ringwire_platform::cleanup::{self, Status};

use crate::Endpoint;
use crate::shm::{ShmOptions, Subscriber};

/// Whether `endpoint` is bound by someone right now (see [`Ready::Bound`](super::Ready)).
pub(crate) fn is_bound(endpoint: &Endpoint) -> bool {
    match endpoint {
        Endpoint::Shm(name) => shm_alive(name),
        Endpoint::Tcp { host, port } => {
            let host = if host == "*" {
                "127.0.0.1"
            } else {
                host.as_str()
            };
            let Ok(addrs) = (host, *port).to_socket_addrs() else {
                return false;
            };
            addrs
                .into_iter()
                .any(|addr| TcpStream::connect_timeout(&addr, Duration::from_millis(50)).is_ok())
        }
        Endpoint::Ipc(path) => path.exists(),
        _ => false,
    }
}

/// Whether segment `name` exists and its creator is alive.
fn shm_alive(name: &str) -> bool {
    let Ok(name) = SegmentName::new(name) else {
        return false;
    };
    matches!(cleanup::inspect(&name), Ok(info) if info.status == Status::Alive)
}

/// Removes the segments that process `pid` created and left behind (it has ended: the
/// creator check sees it dead), as `ringwire shm clean` would; returns their names.
pub(crate) fn remove_segments_of(pid: u32) -> Vec<String> {
    let mut removed = Vec::new();
    for info in cleanup::list() {
        if info.status == Status::Dead
            && info.creator.is_some_and(|c| c.pid == pid)
            && ringwire_platform::Segment::unlink(&info.name).is_ok()
        {
            removed.push(info.name.as_str().to_owned());
        }
    }
    removed
}

/// Watches one process's liveness topic.
pub(crate) struct Watchdog {
    topic: String,
    deadline: Duration,
    sub: Option<Subscriber>,
    last: Instant,
    /// Heartbeats seen in the current run (for logs and tests).
    pub(crate) beats: u64,
}

impl Watchdog {
    /// A watchdog for a process started at `now`.
    pub(crate) fn new(topic: &str, deadline: Duration, now: Instant) -> Self {
        Watchdog {
            topic: topic.to_owned(),
            deadline,
            sub: None,
            last: now,
            beats: 0,
        }
    }

    /// Reads what arrived; `true` when the topic has been quiet past the deadline.
    pub(crate) fn stalled(&mut self, now: Instant) -> bool {
        if self.sub.is_none() {
            self.attach();
        }
        if let Some(sub) = &mut self.sub {
            loop {
                match sub.try_recv_in_place(|_| ()) {
                    Ok(()) => {
                        self.beats += 1;
                        self.last = now;
                    }
                    Err(crate::Error::WouldBlock) => break,
                    Err(e) => {
                        log::debug!("liveness topic {}: {e}; reattaching", self.topic);
                        self.sub = None;
                        break;
                    }
                }
            }
        }
        now.duration_since(self.last) > self.deadline
    }

    fn attach(&mut self) {
        let Some(name) = self.topic.strip_prefix("shm://") else {
            return;
        };
        if !shm_alive(name) {
            return;
        }
        let options = ShmOptions {
            connect_timeout: Duration::from_millis(10),
            ..ShmOptions::default()
        };
        match Subscriber::connect_with_options_and_topics(&self.topic, options, &[b""]) {
            Ok(sub) => self.sub = Some(sub),
            Err(e) => log::debug!("liveness topic {}: {e}", self.topic),
        }
    }
}
