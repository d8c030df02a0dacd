//! `raw-socket`: the socket limit — plain TCP (loopback, `TCP_NODELAY`) and Unix stream sockets
//! with blocking reads, no framing beyond the fixed message size both sides know.
//!
//! Round trips write each message with one `write` and read it with `read_exact` (the
//! receiver's copy out of the kernel is inherent to sockets). Throughput batches the sender's
//! writes through a 64 KiB buffer, as any socket library does for small messages, and the
//! receiver reads through a 64 KiB buffer: so it is the kernel's limit for a byte stream, not
//! one syscall per message.

use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use ringwire::bench::link::{
    Kind, Link, Params, Prepared, Result, Transport, message_buffer, read_seq, stamp, unique_name,
};

const BUFFER: usize = 64 * 1024;

/// A connected stream socket as a [`Link`].
struct StreamLink<S: Read + Write> {
    reader: BufReader<S>,
    writer: BufWriter<S>,
    tx: Vec<u8>,
    rx: Vec<u8>,
    batch: bool,
    /// The Unix socket path the leader removes when done.
    cleanup: Option<PathBuf>,
}

impl<S: Read + Write> StreamLink<S> {
    fn new(read: S, write: S, params: Params, cleanup: Option<PathBuf>) -> Self {
        StreamLink {
            reader: BufReader::with_capacity(BUFFER, read),
            writer: BufWriter::with_capacity(BUFFER, write),
            tx: message_buffer(params.size),
            rx: vec![0; params.size.max(8)],
            batch: params.kind == Kind::Throughput,
            cleanup,
        }
    }
}

impl<S: Read + Write> Drop for StreamLink<S> {
    fn drop(&mut self) {
        if let Some(path) = &self.cleanup {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl<S: Read + Write> Link for StreamLink<S> {
    fn send(&mut self, seq: u64) -> Result<()> {
        stamp(&mut self.tx, seq);
        self.writer.write_all(&self.tx)?;
        if !self.batch {
            self.writer.flush()?;
        }
        Ok(())
    }

    fn recv(&mut self) -> Result<u64> {
        self.reader.read_exact(&mut self.rx)?;
        read_seq(&self.rx)
    }

    fn flush(&mut self) -> Result<()> {
        Ok(self.writer.flush()?)
    }
}

/// TCP over loopback.
pub struct Tcp;
/// Unix stream sockets.
pub struct Unix;

struct TcpPending {
    listener: TcpListener,
    params: Params,
}

impl Prepared for TcpPending {
    fn address(&self) -> String {
        self.listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    }

    fn accept(self: Box<Self>) -> Result<Box<dyn Link>> {
        let (stream, _) = self.listener.accept()?;
        tcp_link(stream, self.params)
    }
}

fn tcp_link(stream: TcpStream, params: Params) -> Result<Box<dyn Link>> {
    stream.set_nodelay(true)?;
    let write = stream.try_clone()?;
    Ok(Box::new(StreamLink::new(stream, write, params, None)))
}

impl Transport for Tcp {
    fn id(&self) -> &'static str {
        "raw-tcp"
    }

    fn group(&self) -> &'static str {
        "raw-socket"
    }

    fn label(&self) -> &'static str {
        "tcp loopback, nodelay"
    }

    fn rtt_sizes(&self) -> &'static [usize] {
        &[8, 65536]
    }

    fn throughput(&self) -> bool {
        true
    }

    fn prepare(&self, params: Params) -> Result<Box<dyn Prepared>> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        Ok(Box::new(TcpPending { listener, params }))
    }

    fn connect(&self, address: &str, params: Params) -> Result<Box<dyn Link>> {
        tcp_link(TcpStream::connect(address)?, params)
    }
}

struct UnixPending {
    listener: UnixListener,
    path: PathBuf,
    params: Params,
}

impl Prepared for UnixPending {
    fn address(&self) -> String {
        self.path.display().to_string()
    }

    fn accept(self: Box<Self>) -> Result<Box<dyn Link>> {
        let (stream, _) = self.listener.accept()?;
        let write = stream.try_clone()?;
        let path = self.path.clone();
        Ok(Box::new(StreamLink::new(
            stream,
            write,
            self.params,
            Some(path),
        )))
    }
}

impl Transport for Unix {
    fn id(&self) -> &'static str {
        "raw-unix"
    }

    fn group(&self) -> &'static str {
        "raw-socket"
    }

    fn label(&self) -> &'static str {
        "unix stream"
    }

    fn rtt_sizes(&self) -> &'static [usize] {
        &[8, 65536]
    }

    fn throughput(&self) -> bool {
        true
    }

    fn prepare(&self, params: Params) -> Result<Box<dyn Prepared>> {
        let path = std::env::temp_dir().join(unique_name("unix.sock"));
        let listener = UnixListener::bind(&path)?;
        Ok(Box::new(UnixPending {
            listener,
            path,
            params,
        }))
    }

    fn connect(&self, address: &str, params: Params) -> Result<Box<dyn Link>> {
        let stream = UnixStream::connect(address)?;
        let write = stream.try_clone()?;
        Ok(Box::new(StreamLink::new(stream, write, params, None)))
    }
}
