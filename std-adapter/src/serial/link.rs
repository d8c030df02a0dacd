//! Opening the byte stream under a [`Bridge`](super::Bridge): a serial device or pty, a plain
//! file or FIFO, or a TCP connection (QEMU's `-serial tcp:HOST:PORT,server`).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::endpoint::Endpoint;
use crate::error::{Error, Result};

/// How long one read waits before [`Bridge::poll`](super::Bridge::poll) returns empty-handed.
pub const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// An open link.
#[derive(Debug)]
#[non_exhaustive]
pub enum Link {
    /// A terminal device (UART adapter, USB CDC-ACM, pty) in raw mode.
    Tty(File),
    /// Any other file (a FIFO, a capture file).
    File(File),
    /// A TCP connection.
    Tcp(TcpStream),
}

/// Opens `spec`: `tcp://host:port` connects over TCP; anything else is a path, opened for
/// reading and writing. A terminal is put in raw mode (8N1, no echo, no line editing, no flow
/// control), with `baud` if given, and reads that return after [`READ_TIMEOUT`] when idle.
pub fn open_link(spec: &str, baud: Option<u32>) -> Result<Link> {
    if spec.starts_with("tcp://") {
        let Endpoint::Tcp { host, port } = spec.parse::<Endpoint>()? else {
            return Err(Error::Unsupported(
                "serial link must be a path or tcp://host:port",
            ));
        };
        let stream = TcpStream::connect((host.as_str(), port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        return Ok(Link::Tcp(stream));
    }
    let file = OpenOptions::new().read(true).write(true).open(spec)?;
    if rustix::termios::isatty(&file) {
        set_raw(&file, baud)?;
        Ok(Link::Tty(file))
    } else {
        Ok(Link::File(file))
    }
}

/// Raw mode for a terminal: `cfmakeraw`, optional speed, and `VMIN = 0, VTIME = 1` so a read
/// returns after at most 0.1 s even with nothing to read.
fn set_raw(file: &File, baud: Option<u32>) -> Result<()> {
    use rustix::termios::{OptionalActions, SpecialCodeIndex, tcgetattr, tcsetattr};
    let mut t = tcgetattr(file).map_err(io::Error::from)?;
    t.make_raw();
    if let Some(baud) = baud {
        t.set_speed(baud).map_err(io::Error::from)?;
    }
    t.special_codes[SpecialCodeIndex::VMIN] = 0;
    t.special_codes[SpecialCodeIndex::VTIME] = (READ_TIMEOUT.as_millis() / 100) as u8;
    tcsetattr(file, OptionalActions::Now, &t).map_err(io::Error::from)?;
    Ok(())
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            // With VMIN = 0 a terminal read returns 0 when VTIME expires: that is a timeout,
            // not the end of the stream (a hung-up terminal reports an error instead).
            Link::Tty(f) => match f.read(buf)? {
                0 if !buf.is_empty() => Err(io::ErrorKind::TimedOut.into()),
                n => Ok(n),
            },
            Link::File(f) => f.read(buf),
            Link::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Link::Tty(f) | Link::File(f) => f.write(buf),
            Link::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Link::Tty(f) | Link::File(f) => f.flush(),
            Link::Tcp(s) => s.flush(),
        }
    }
}
