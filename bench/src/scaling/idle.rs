//! The holder of idle connections: one process opening N plain TCP connections to a REP
//! server and completing the ZMTP 3.1 NULL handshake on each by hand (greeting, then a READY
//! command naming socket type REQ), so a thousand fit in one process without threads or a
//! ZeroMQ context. After the last handshake it answers `ready` and holds them, sending
//! nothing, until its standard input closes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use ringwire::bench::{BenchError, Result};

use super::proc::{answer, die_with_parent, raise_fd_limit};

/// ZMTP 3.1 greeting of a NULL-mechanism client (ZMTP spec 23, "Greeting"): signature,
/// version 3.1, mechanism "NULL" padded to 20 bytes, as-server 0, 31 bytes of filler.
fn greeting() -> [u8; 64] {
    let mut g = [0u8; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 1;
    g[12..16].copy_from_slice(b"NULL");
    g
}

/// A READY command (short command frame) with the one property `Socket-Type: REQ`.
fn ready() -> Vec<u8> {
    let mut body = Vec::new();
    body.push(5);
    body.extend_from_slice(b"READY");
    body.push(11);
    body.extend_from_slice(b"Socket-Type");
    body.extend_from_slice(&3u32.to_be_bytes());
    body.extend_from_slice(b"REQ");
    let mut frame = vec![0x04, body.len() as u8];
    frame.extend_from_slice(&body);
    frame
}

/// Opens one connection and completes the handshake: sends greeting and READY, reads the
/// server's greeting and its READY command (whose properties are not checked).
fn handshake(address: &str) -> Result<TcpStream> {
    let mut s = TcpStream::connect(address)?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(&greeting())?;
    s.write_all(&ready())?;
    let mut theirs = [0u8; 64];
    s.read_exact(&mut theirs)?;
    if theirs[0] != 0xFF || theirs[9] != 0x7F || theirs[10] != 3 {
        return Err(BenchError(format!(
            "{address}: not a ZMTP 3 greeting: {:02x?}",
            &theirs[..12]
        )));
    }
    let mut flags = [0u8; 1];
    s.read_exact(&mut flags)?;
    if flags[0] & 0x04 == 0 {
        return Err(BenchError(format!(
            "{address}: expected a command frame, flags {:#x}",
            flags[0]
        )));
    }
    let len = if flags[0] & 0x02 != 0 {
        let mut l = [0u8; 8];
        s.read_exact(&mut l)?;
        u64::from_be_bytes(l)
    } else {
        let mut l = [0u8; 1];
        s.read_exact(&mut l)?;
        u64::from(l[0])
    };
    if len > 64 * 1024 {
        return Err(BenchError(format!("{address}: READY of {len} bytes")));
    }
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body)?;
    if !body.starts_with(b"\x05READY") {
        return Err(BenchError(format!("{address}: expected READY")));
    }
    Ok(s)
}

/// The idle-connection process: `count` handshaken connections to `address` (`host:port`),
/// held until standard input closes.
pub fn hold(address: &str, count: usize) -> Result<()> {
    die_with_parent();
    raise_fd_limit();
    let mut conns = Vec::with_capacity(count);
    for i in 0..count {
        conns
            .push(handshake(address).map_err(|e| BenchError(format!("idle connection {i}: {e}")))?);
    }
    answer("ready")?;
    // Hold them until the leader closes our stdin.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(conns);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_command_is_well_formed() {
        let r = ready();
        assert_eq!(r[0], 0x04);
        assert_eq!(usize::from(r[1]), r.len() - 2);
        assert!(r[2..].starts_with(b"\x05READY\x0bSocket-Type\x00\x00\x00\x03REQ"));
        let g = greeting();
        assert_eq!(&g[..12], b"\xff\0\0\0\0\0\0\0\0\x7f\x03\x01");
        assert_eq!(&g[12..17], b"NULL\0");
    }
}
