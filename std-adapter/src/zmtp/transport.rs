//! Byte streams under ZMTP: TCP (with `TCP_NODELAY`) and Unix stream sockets; and the
//! in-memory pipes of `inproc://` (`pipe.rs`), which carry whole messages instead.
//!
//! Connected streams stay in blocking mode; every ordinary read and write passes
//! `MSG_DONTWAIT`, so it never blocks. Only [`Stream::recv`] with `wait` sleeps in the
//! kernel, bounded by `SO_RCVTIMEO`: a receive that has exactly one connection to watch
//! sleeps there instead of in `poll(2)`, which on Linux wakes measurably later (a
//! `poll` then `recv` costs about 3 µs more per hop on a Unix socket than one blocking
//! `recv`).
//!
//! `ipc://` binding replaces a *stale* socket file (one no process listens on any
//! more: connecting to it is refused), refuses a live one (`AddrInUse`) and never
//! touches anything that is not a socket (a regular file, a directory, a symlink: an
//! [`Error::Io`] of kind `AlreadyExists`). On drop the listener removes its socket file
//! only if the path still names the very socket it created (same device and inode), so
//! a file put there by someone else since is left alone.
//!
//! Portability: the above is the Unix code (Linux, macOS). On macOS, where there is no
//! `MSG_NOSIGNAL`, streams set `SO_NOSIGPIPE` instead. Windows has no `MSG_DONTWAIT`
//! and ringwire does not speak `ipc://` there (`Error::Unsupported`): its TCP streams
//! are non-blocking, and a waiting receive first sleeps in `WSAPoll` on the one socket
//! for the receive timeout.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
#[cfg(unix)]
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::net::{RecvFlags, SendFlags};

use super::pipe;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};

/// A connected byte stream, or an `inproc://` pipe (whose reads and writes are the
/// connection's own: [`Stream::recv`] and the other byte methods never see one).
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
    Pipe(pipe::End),
}

/// Whether connected streams are in blocking mode (see the module docs).
const BLOCKING: bool = cfg!(not(windows));

impl Stream {
    fn setup(self) -> io::Result<Self> {
        match &self {
            Stream::Tcp(s) => {
                s.set_nodelay(true)?;
                s.set_nonblocking(!BLOCKING)?;
            }
            #[cfg(unix)]
            Stream::Unix(s) => s.set_nonblocking(!BLOCKING)?,
            Stream::Pipe(_) => return Ok(self),
        }
        #[cfg(target_vendor = "apple")]
        rustix::net::sockopt::set_socket_nosigpipe(&self, true)?;
        Ok(self)
    }

    /// Connects to `ep` (the stream is then read and written with [`recv`](Self::recv)
    /// and [`send`](Self::send), which do not block unless asked to); an `inproc://` pipe
    /// tells the listening socket `meta`.
    pub fn connect(ep: &Endpoint, timeout: Duration, meta: &pipe::Meta) -> Result<Stream> {
        let stream = match ep {
            Endpoint::Tcp { host, port } => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, "host did not resolve");
                let mut found = None;
                for addr in (host.as_str(), *port).to_socket_addrs()? {
                    match TcpStream::connect_timeout(&addr, timeout) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                Stream::Tcp(found.ok_or(last)?)
            }
            #[cfg(unix)]
            Endpoint::Ipc(path) => Stream::Unix(UnixStream::connect(path)?),
            Endpoint::Inproc(name) => Stream::Pipe(pipe::connect(name, meta.clone())?),
            #[cfg(not(unix))]
            Endpoint::Ipc(_) => return Err(NO_IPC),
            Endpoint::Shm(_) => {
                return Err(Error::Unsupported(
                    "ZMTP sockets take tcp://, ipc:// or inproc:// endpoints",
                ));
            }
        };
        Ok(stream.setup()?)
    }
}

impl Stream {
    /// Reads what the kernel holds. Without `wait` it never blocks (`WouldBlock` when
    /// nothing is there); with `wait` it sleeps until bytes arrive or the receive
    /// timeout set by [`set_recv_timeout`](Self::set_recv_timeout) passes (then also
    /// `WouldBlock`).
    pub fn recv(&self, buf: &mut [u8], wait: bool) -> io::Result<usize> {
        self.before_recv(wait)?;
        Ok(rustix::net::recv(self, buf, recv_flags(wait))?.0)
    }

    /// Like [`recv`](Self::recv), into `v`'s spare capacity (which it then fills).
    pub fn recv_spare(&self, v: &mut Vec<u8>, wait: bool) -> io::Result<usize> {
        self.before_recv(wait)?;
        Ok(rustix::net::recv(self, rustix::buffer::spare_capacity(v), recv_flags(wait))?.0)
    }

    /// Blocking mode waits in `recv` itself.
    #[cfg(not(windows))]
    #[inline]
    fn before_recv(&self, _wait: bool) -> io::Result<()> {
        Ok(())
    }

    /// A non-blocking socket waits in `WSAPoll` for the receive timeout first.
    #[cfg(windows)]
    fn before_recv(&self, wait: bool) -> io::Result<()> {
        use ringwire_platform::readiness::{poll, timespec};
        use rustix::event::{PollFd, PollFlags};
        use rustix::net::sockopt;
        if !wait {
            return Ok(());
        }
        let timeout = sockopt::socket_timeout(self, sockopt::Timeout::Recv)?;
        let timeout = timeout.map(timespec);
        let mut fds = [PollFd::new(self, PollFlags::IN)];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes what the kernel takes now of `parts`, in order, in one call, without
    /// blocking (and without `SIGPIPE`).
    #[cfg(unix)]
    pub fn send_vectored(&self, parts: &[io::IoSlice<'_>]) -> io::Result<usize> {
        Ok(rustix::net::sendmsg(
            self,
            parts,
            &mut rustix::net::SendAncillaryBuffer::default(),
            send_flags(),
        )?)
    }

    /// Writes what the kernel takes now of `parts`, in order, in one call, without
    /// blocking (the socket is non-blocking).
    #[cfg(not(unix))]
    pub fn send_vectored(&self, parts: &[io::IoSlice<'_>]) -> io::Result<usize> {
        use std::io::Write;
        let Stream::Tcp(s) = self else {
            return Err(io::ErrorKind::Unsupported.into());
        };
        let mut s: &TcpStream = s;
        s.write_vectored(parts)
    }

    /// Writes what the kernel takes now, without blocking (and without `SIGPIPE`).
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        Ok(rustix::net::send(self, buf, send_flags())?)
    }

    /// Sets how long a waiting [`recv`](Self::recv) may sleep (`None`: no limit).
    /// The kernel counts it in scheduler ticks, so it may run a few ms over.
    pub fn set_recv_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        use rustix::net::sockopt;
        Ok(sockopt::set_socket_timeout(
            self,
            sockopt::Timeout::Recv,
            timeout,
        )?)
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Stream {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
            Stream::Pipe(p) => p.as_fd(),
        }
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Stream {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        match self {
            Stream::Tcp(s) => s.as_socket(),
            Stream::Pipe(p) => p.as_socket(),
        }
    }
}

/// A listening socket.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(UnixListener, SocketFile),
    Inproc(pipe::Listener),
}

/// The socket file an `ipc://` listener created: its path and identity, so that drop
/// removes that file and nothing that replaced it.
#[cfg(unix)]
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    /// Device and inode at bind time (`None`: unknown, then drop removes nothing).
    id: Option<(u64, u64)>,
}

#[cfg(unix)]
impl SocketFile {
    /// Device and inode of the socket at `path`, if a socket is there (no symlink followed).
    fn identity(path: &Path) -> Option<(u64, u64)> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let meta = std::fs::symlink_metadata(path).ok()?;
        meta.file_type()
            .is_socket()
            .then(|| (meta.dev(), meta.ino()))
    }
}

/// What `ipc://` gives where there are no Unix sockets.
#[cfg(not(unix))]
const NO_IPC: Error = Error::Unsupported("ipc:// needs Unix-domain sockets: use tcp:// here");

/// Whether this build carries ZMTP over `ep`: `tcp://` and `inproc://` everywhere, `ipc://`
/// where there are Unix-domain sockets. Checked when a connect is asked for, so an impossible endpoint is an
/// error then rather than a reconnect loop.
pub fn check_endpoint(ep: &Endpoint) -> Result<()> {
    match ep {
        Endpoint::Tcp { .. } | Endpoint::Inproc(_) => Ok(()),
        #[cfg(unix)]
        Endpoint::Ipc(_) => Ok(()),
        #[cfg(not(unix))]
        Endpoint::Ipc(_) => Err(NO_IPC),
        Endpoint::Shm(_) => Err(Error::Unsupported(
            "ZMTP sockets take tcp://, ipc:// or inproc:// endpoints",
        )),
    }
}

impl Listener {
    /// Binds `ep`; returns the listener and the endpoint actually bound (port 0 resolved).
    /// An `inproc://` name tells connecting sockets `meta`.
    pub fn bind(ep: &Endpoint, meta: &pipe::Meta) -> Result<(Listener, Endpoint)> {
        match ep {
            Endpoint::Tcp { host, port } => {
                let host = if host == "*" {
                    "0.0.0.0"
                } else {
                    host.as_str()
                };
                let addr: SocketAddr = (host, *port)
                    .to_socket_addrs()?
                    .next()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
                let l = TcpListener::bind(addr)?;
                l.set_nonblocking(true)?;
                let local = l.local_addr()?;
                let bound = Endpoint::Tcp {
                    host: local.ip().to_string(),
                    port: local.port(),
                };
                Ok((Listener::Tcp(l), bound))
            }
            #[cfg(not(unix))]
            Endpoint::Ipc(_) => Err(NO_IPC),
            #[cfg(unix)]
            Endpoint::Ipc(path) => {
                let l = bind_unix(path)?;
                l.set_nonblocking(true)?;
                let file = SocketFile {
                    path: path.clone(),
                    id: SocketFile::identity(path),
                };
                Ok((Listener::Unix(l, file), ep.clone()))
            }
            Endpoint::Inproc(name) => {
                let l = pipe::Listener::bind(name, meta.clone())?;
                Ok((Listener::Inproc(l), ep.clone()))
            }
            Endpoint::Shm(_) => Err(Error::Unsupported(
                "ZMTP sockets take tcp://, ipc:// or inproc:// endpoints",
            )),
        }
    }

    /// Accepts one pending connection, if any, with the peer's address where it has
    /// one (a Unix client's socket usually has no name).
    pub fn accept(&self) -> io::Result<Option<(Stream, Option<Endpoint>)>> {
        let r = match self {
            Listener::Tcp(l) => l.accept().map(|(s, a)| {
                let peer = Endpoint::Tcp {
                    host: a.ip().to_string(),
                    port: a.port(),
                };
                (Stream::Tcp(s), Some(peer))
            }),
            #[cfg(unix)]
            Listener::Unix(l, _) => l.accept().map(|(s, a)| {
                let peer = a.as_pathname().map(|p| Endpoint::Ipc(p.to_path_buf()));
                (Stream::Unix(s), peer)
            }),
            Listener::Inproc(l) => return Ok(l.accept().map(|end| (Stream::Pipe(end), None))),
        };
        match r {
            Ok((s, peer)) => s.setup().map(|s| Some((s, peer))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Listener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l, _) => l.as_fd(),
            Listener::Inproc(l) => l.as_fd(),
        }
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Listener {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        match self {
            Listener::Tcp(l) => l.as_socket(),
            Listener::Inproc(l) => l.as_socket(),
        }
    }
}

#[cfg(unix)]
impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, file) = self
            && file.id.is_some()
            && SocketFile::identity(&file.path) == file.id
        {
            let _ = std::fs::remove_file(&file.path);
        }
    }
}

/// Binds a Unix socket, replacing a stale socket file and refusing a live one or
/// anything that is not a socket.
#[cfg(unix)]
fn bind_unix(path: &Path) -> Result<UnixListener> {
    match UnixListener::bind(path) {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            let Some(found) = SocketFile::identity(path) else {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and is not a socket: not replacing it",
                        path.display()
                    ),
                )));
            };
            if UnixStream::connect(path).is_ok() {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use by a live process", path.display()),
                )));
            }
            // Stale. Remove it only if it is still the socket just probed.
            if SocketFile::identity(path) == Some(found) {
                std::fs::remove_file(path)?;
            }
            Ok(UnixListener::bind(path)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// `recv` flags: wait for bytes, or not (a non-blocking socket never waits in `recv`).
fn recv_flags(wait: bool) -> RecvFlags {
    #[cfg(not(windows))]
    if !wait {
        return RecvFlags::DONTWAIT;
    }
    let _ = wait;
    RecvFlags::empty()
}

/// `send` flags: never wait, never raise `SIGPIPE` (macOS streams have `SO_NOSIGPIPE`
/// set instead; Windows has no signals and its streams are non-blocking).
fn send_flags() -> SendFlags {
    #[cfg(not(any(windows, target_vendor = "apple")))]
    return SendFlags::DONTWAIT | SendFlags::NOSIGNAL;
    #[cfg(target_vendor = "apple")]
    return SendFlags::DONTWAIT;
    #[cfg(windows)]
    return SendFlags::empty();
}
