//! Byte streams under ZMTP: TCP (with `TCP_NODELAY`) and Unix stream sockets.
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

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};

/// A connected byte stream.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
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
        }
        #[cfg(target_vendor = "apple")]
        rustix::net::sockopt::set_socket_nosigpipe(&self, true)?;
        Ok(self)
    }

    /// Connects to `ep` (the stream is then read and written with [`recv`](Self::recv)
    /// and [`send`](Self::send), which do not block unless asked to).
    pub fn connect(ep: &Endpoint, timeout: Duration) -> Result<Stream> {
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
            #[cfg(unix)]
            Endpoint::Inproc(name) => Stream::Unix(inproc::connect(name)?),
            #[cfg(not(unix))]
            Endpoint::Ipc(_) => return Err(NO_IPC),
            #[cfg(not(unix))]
            Endpoint::Inproc(_) => return Err(NO_INPROC),
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
        let Stream::Tcp(s) = self;
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
        }
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Stream {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        let Stream::Tcp(s) = self;
        s.as_socket()
    }
}

/// A listening socket.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(UnixListener, SocketFile),
}

/// The socket file an `ipc://` listener created: its path and identity, so that drop
/// removes that file and nothing that replaced it.
#[cfg(unix)]
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    /// Device and inode at bind time (`None`: unknown, then drop removes nothing).
    id: Option<(u64, u64)>,
    /// An `inproc://` listener's name: only connections from this process are accepted.
    inproc: Option<String>,
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
/// What `inproc://` gives where there are no Unix sockets.
#[cfg(not(unix))]
const NO_INPROC: Error = Error::Unsupported(
    "inproc:// is carried over Unix-domain sockets, which this platform lacks: use tcp://127.0.0.1 here",
);

/// Whether this build carries ZMTP over `ep`: `tcp://` everywhere, `ipc://` where there are
/// Unix-domain sockets. Checked when a connect is asked for, so an impossible endpoint is an
/// error then rather than a reconnect loop.
pub fn check_endpoint(ep: &Endpoint) -> Result<()> {
    match ep {
        Endpoint::Tcp { .. } => Ok(()),
        #[cfg(unix)]
        Endpoint::Ipc(_) | Endpoint::Inproc(_) => Ok(()),
        #[cfg(not(unix))]
        Endpoint::Ipc(_) => Err(NO_IPC),
        #[cfg(not(unix))]
        Endpoint::Inproc(_) => Err(NO_INPROC),
        Endpoint::Shm(_) => Err(Error::Unsupported(
            "ZMTP sockets take tcp://, ipc:// or inproc:// endpoints",
        )),
    }
}

impl Listener {
    /// Binds `ep`; returns the listener and the endpoint actually bound (port 0 resolved).
    pub fn bind(ep: &Endpoint) -> Result<(Listener, Endpoint)> {
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
                    inproc: None,
                };
                Ok((Listener::Unix(l, file), ep.clone()))
            }
            #[cfg(unix)]
            Endpoint::Inproc(name) => {
                let (l, file) = inproc::bind(name)?;
                l.set_nonblocking(true)?;
                Ok((Listener::Unix(l, file), ep.clone()))
            }
            #[cfg(not(unix))]
            Endpoint::Inproc(_) => Err(NO_INPROC),
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
            Listener::Unix(l, file) => match l.accept() {
                Ok((s, _)) if file.inproc.is_some() && !inproc::same_process(&s) => {
                    // Another process found the name: inproc is for this process only.
                    log::warn!("inproc listener: refused a connection from another process");
                    return Ok(None);
                }
                Ok((s, a)) => {
                    let peer = a.as_pathname().map(|p| Endpoint::Ipc(p.to_path_buf()));
                    Ok((Stream::Unix(s), peer))
                }
                Err(e) => Err(e),
            },
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
        }
    }
}

#[cfg(windows)]
impl std::os::windows::io::AsSocket for Listener {
    fn as_socket(&self) -> std::os::windows::io::BorrowedSocket<'_> {
        let Listener::Tcp(l) = self;
        l.as_socket()
    }
}

#[cfg(unix)]
impl Drop for Listener {
    fn drop(&mut self) {
        // A bind of the same name that runs before the listener below is closed waits
        // for the kernel to free it (`inproc::bind`).
        if let Listener::Unix(_, file) = self
            && let Some(name) = file.inproc.take()
        {
            inproc::unbound(&name);
        }
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

/// `inproc://NAME`: a Unix-domain socket private to this process. On Linux it lives in the
/// abstract namespace under a name holding the process id (no file; it vanishes with the
/// listener); elsewhere it is a socket file in a directory of the system's temporary
/// directory named after the process id. Either way the listener accepts only connections
/// whose peer credentials name this process, so another process that guesses the name is
/// refused.
#[cfg(unix)]
mod inproc {
    use std::io;
    use std::os::unix::net::{UnixListener, UnixStream};

    use super::SocketFile;
    #[cfg(not(target_os = "linux"))]
    use super::bind_unix;
    use crate::error::Result;

    /// The name's address for this process.
    #[cfg(target_os = "linux")]
    fn addr(name: &str) -> io::Result<std::os::unix::net::SocketAddr> {
        use std::os::linux::net::SocketAddrExt;
        let id = format!("ringwire/inproc/{}/{name}", std::process::id());
        std::os::unix::net::SocketAddr::from_abstract_name(id.as_bytes())
    }

    /// Names bound by this process's live inproc listeners.
    static BOUND: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    /// How long a bind waits for a name this process no longer uses to be free in the
    /// kernel: a child being spawned by another thread holds copies of every descriptor
    /// between its fork and its exec.
    #[cfg(target_os = "linux")]
    const FREE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

    fn bound() -> std::sync::MutexGuard<'static, Vec<String>> {
        BOUND
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The table of bound names, locked, if `name` is not in it; else the error a second bind
    /// of it gets.
    fn unbound_or_refuse(name: &str) -> Result<std::sync::MutexGuard<'static, Vec<String>>> {
        let names = bound();
        if names.iter().any(|n| n == name) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("inproc://{name} is already bound in this process"),
            )
            .into());
        }
        Ok(names)
    }

    /// Forgets a name when its listener goes.
    pub fn unbound(name: &str) {
        bound().retain(|n| n != name);
    }

    #[cfg(target_os = "linux")]
    pub fn bind(name: &str) -> Result<(UnixListener, SocketFile)> {
        let mut names = unbound_or_refuse(name)?;
        let deadline = std::time::Instant::now() + FREE_WAIT;
        let l = loop {
            match UnixListener::bind_addr(&addr(name)?) {
                Ok(l) => break l,
                // Not ours any more: a forked child's copy (gone at its exec), or another
                // process squatting on the name.
                Err(e)
                    if e.kind() == io::ErrorKind::AddrInUse
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("inproc://{name} is held by another process"),
                    )
                    .into());
                }
                Err(e) => return Err(e.into()),
            }
        };
        names.push(name.to_string());
        let file = SocketFile {
            path: Default::default(),
            id: None,
            inproc: Some(name.to_string()),
        };
        Ok((l, file))
    }

    /// Connects, and refuses a listener that is not this process (another process that
    /// took the name would otherwise receive what this process sends).
    #[cfg(target_os = "linux")]
    pub fn connect(name: &str) -> io::Result<UnixStream> {
        let s = UnixStream::connect_addr(&addr(name)?)?;
        if !same_process(&s) {
            log::warn!("inproc://{name}: the listener is another process: refused");
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("inproc://{name} is held by another process"),
            ));
        }
        Ok(s)
    }

    /// The socket file of `name` (hashed: names may hold any character).
    #[cfg(not(target_os = "linux"))]
    fn path(name: &str) -> std::path::PathBuf {
        let hash = ringwire_core::segment::fnv1a64(name.as_bytes());
        std::env::temp_dir().join(format!(
            "ringwire-inproc-{}-{hash:016x}.sock",
            std::process::id()
        ))
    }

    #[cfg(not(target_os = "linux"))]
    pub fn bind(name: &str) -> Result<(UnixListener, SocketFile)> {
        let mut names = unbound_or_refuse(name)?;
        let path = path(name);
        let l = bind_unix(&path)?;
        let id = SocketFile::identity(&path);
        names.push(name.to_string());
        Ok((
            l,
            SocketFile {
                path,
                id,
                inproc: Some(name.to_string()),
            },
        ))
    }

    #[cfg(not(target_os = "linux"))]
    pub fn connect(name: &str) -> io::Result<UnixStream> {
        UnixStream::connect(path(name))
    }

    /// Whether the peer of `s` is this process (unknown counts as not).
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn same_process(s: &UnixStream) -> bool {
        rustix::net::sockopt::socket_peercred(s)
            .is_ok_and(|c| c.pid.as_raw_nonzero().get() as u32 == std::process::id())
    }

    /// Whether the peer of `s` is this process: its user, where the process is not known
    /// (the socket file's directory and mode keep other users out).
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    pub fn same_process(_s: &UnixStream) -> bool {
        true
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
