//! Opening the byte stream under a [`Bridge`](super::Bridge): a serial device or pty, a plain
//! file or FIFO, or a TCP connection (QEMU's `-serial tcp:HOST:PORT,server`).
//!
//! Terminals are configured with POSIX termios (Linux, macOS); Windows serial ports (`COM3`,
//! `\\.\COM12`) are opened with the `serialport` crate, 8N1 without flow control, at `baud`
//! (115200 if not given, since Windows keeps no speed of its own to leave alone).

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
    /// A Windows serial port (`COMn`).
    #[cfg(windows)]
    Serial(ComPort),
}

/// A Windows serial port, opened by [`open_link`].
#[cfg(windows)]
pub struct ComPort(Box<dyn serialport::SerialPort>);

#[cfg(windows)]
impl std::fmt::Debug for ComPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ComPort").field(&self.0.name()).finish()
    }
}

/// The speed of a Windows serial port opened without one.
#[cfg(windows)]
pub const DEFAULT_BAUD: u32 = 115_200;

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
    open_path(spec, baud)
}

#[cfg(unix)]
fn open_path(spec: &str, baud: Option<u32>) -> Result<Link> {
    let file = OpenOptions::new().read(true).write(true).open(spec)?;
    if rustix::termios::isatty(&file) {
        set_raw(&file, baud)?;
        Ok(Link::Tty(file))
    } else {
        Ok(Link::File(file))
    }
}

#[cfg(windows)]
fn open_path(spec: &str, baud: Option<u32>) -> Result<Link> {
    if is_com_port(spec) {
        let port = serialport::new(spec, baud.unwrap_or(DEFAULT_BAUD))
            .timeout(READ_TIMEOUT)
            .open()
            .map_err(io::Error::from)?;
        return Ok(Link::Serial(ComPort(port)));
    }
    Ok(Link::File(
        OpenOptions::new().read(true).write(true).open(spec)?,
    ))
}

/// `COM3`, `\\.\COM12`: a Windows serial port.
#[cfg(any(windows, test))]
fn is_com_port(spec: &str) -> bool {
    let name = spec.strip_prefix(r"\\.\").unwrap_or(spec).as_bytes();
    name.len() > 3
        && name[..3].eq_ignore_ascii_case(b"com")
        && name[3..].iter().all(u8::is_ascii_digit)
}

#[cfg(not(any(unix, windows)))]
fn open_path(spec: &str, _baud: Option<u32>) -> Result<Link> {
    Ok(Link::File(
        OpenOptions::new().read(true).write(true).open(spec)?,
    ))
}

/// Raw mode for a terminal: `cfmakeraw`, optional speed, and `VMIN = 0, VTIME = 1` so a read
/// returns after at most 0.1 s even with nothing to read.
#[cfg(unix)]
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
            // A read that times out with nothing is `TimedOut`, as for a terminal.
            #[cfg(windows)]
            Link::Serial(p) => p.0.read(buf),
        }
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Link::Tty(f) | Link::File(f) => f.write(buf),
            Link::Tcp(s) => s.write(buf),
            #[cfg(windows)]
            Link::Serial(p) => p.0.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Link::Tty(f) | Link::File(f) => f.flush(),
            Link::Tcp(s) => s.flush(),
            #[cfg(windows)]
            Link::Serial(p) => p.0.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_com_port;

    #[test]
    fn windows_serial_port_names() {
        for yes in ["COM3", "com1", r"\\.\COM12"] {
            assert!(is_com_port(yes), "{yes}");
        }
        for no in [
            "COM",
            "COMX",
            "COM3x",
            "/dev/ttyUSB0",
            "C:\\capture.bin",
            "coé1",
            "cé",
        ] {
            assert!(!is_com_port(no), "{no}");
        }
    }
}
