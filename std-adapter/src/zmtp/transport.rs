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
//! more: connecting to it is refused) and refuses a live one; the file is removed
//! when the listener is dropped.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::net::{RecvFlags, SendFlags, sockopt};

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};

/// A connected byte stream.
#[derive(Debug)]
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    fn setup(self) -> io::Result<Self> {
        match &self {
            Stream::Tcp(s) => {
                s.set_nodelay(true)?;
                s.set_nonblocking(false)?;
            }
            Stream::Unix(s) => s.set_nonblocking(false)?,
        }
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
            Endpoint::Ipc(path) => Stream::Unix(UnixStream::connect(path)?),
            _ => {
                return Err(Error::Unsupported(
                    "ZMTP sockets take tcp:// or ipc:// endpoints",
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
        Ok(rustix::net::recv(self, buf, recv_flags(wait))?.0)
    }

    /// Like [`recv`](Self::recv), into `v`'s spare capacity (which it then fills).
    pub fn recv_spare(&self, v: &mut Vec<u8>, wait: bool) -> io::Result<usize> {
        Ok(rustix::net::recv(self, rustix::buffer::spare_capacity(v), recv_flags(wait))?.0)
    }

    /// Writes what the kernel takes now of `parts`, in order, in one call, without
    /// blocking (and without `SIGPIPE`).
    pub fn send_vectored(&self, parts: &[io::IoSlice<'_>]) -> io::Result<usize> {
        Ok(rustix::net::sendmsg(
            self,
            parts,
            &mut rustix::net::SendAncillaryBuffer::default(),
            SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
        )?)
    }

    /// Writes what the kernel takes now, without blocking (and without `SIGPIPE`).
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        Ok(rustix::net::send(
            self,
            buf,
            SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
        )?)
    }

    /// Sets how long a waiting [`recv`](Self::recv) may sleep (`None`: no limit).
    /// The kernel counts it in scheduler ticks, so it may run a few ms over.
    pub fn set_recv_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        Ok(sockopt::set_socket_timeout(
            self,
            sockopt::Timeout::Recv,
            timeout,
        )?)
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }
}

/// A listening socket.
#[derive(Debug)]
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
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
            Endpoint::Ipc(path) => {
                let l = bind_unix(path)?;
                l.set_nonblocking(true)?;
                Ok((Listener::Unix(l, path.clone()), ep.clone()))
            }
            _ => Err(Error::Unsupported(
                "ZMTP sockets take tcp:// or ipc:// endpoints",
            )),
        }
    }

    /// Accepts one pending connection, if any.
    pub fn accept(&self) -> io::Result<Option<Stream>> {
        let r = match self {
            Listener::Tcp(l) => l.accept().map(|(s, _)| Stream::Tcp(s)),
            Listener::Unix(l, _) => l.accept().map(|(s, _)| Stream::Unix(s)),
        };
        match r {
            Ok(s) => s.setup().map(Some),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l, _) => l.as_fd(),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Binds a Unix socket, replacing a stale socket file and refusing a live one.
fn bind_unix(path: &Path) -> Result<UnixListener> {
    match UnixListener::bind(path) {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            if UnixStream::connect(path).is_ok() {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use by a live process", path.display()),
                )));
            }
            std::fs::remove_file(path)?;
            Ok(UnixListener::bind(path)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// `recv` flags: wait for bytes, or not.
fn recv_flags(wait: bool) -> RecvFlags {
    if wait {
        RecvFlags::empty()
    } else {
        RecvFlags::DONTWAIT
    }
}
