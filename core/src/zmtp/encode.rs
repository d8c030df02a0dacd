//! The ZMTP encoder: writes greetings, frame headers and commands into caller buffers.
//!
//! Every function returns the number of bytes written, or
//! [`EncodeError::BufferTooSmall`] without writing a partial item. Frame bodies are
//! not copied by [`encode_frame_header`]: an adapter writes the header and the body
//! with one vectored write (or appends both to a batch buffer).

use super::{
    EncodeError, FLAG_COMMAND, FLAG_LONG, FLAG_MORE, GREETING_LEN, MAX_PING_CONTEXT,
    MECHANISM_NULL, Version,
};

/// Writes a NULL-mechanism greeting announcing `version` (64 bytes).
pub fn encode_greeting(
    out: &mut [u8],
    version: Version,
    as_server: bool,
) -> Result<usize, EncodeError> {
    let g = out
        .get_mut(..GREETING_LEN)
        .ok_or(EncodeError::BufferTooSmall)?;
    g.fill(0);
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = version.major;
    g[11] = version.minor;
    g[12..12 + MECHANISM_NULL.len()].copy_from_slice(MECHANISM_NULL);
    g[32] = u8::from(as_server);
    Ok(GREETING_LEN)
}

/// Size of the header of a frame with a `len`-byte body: 2 (short) or 9 (long).
pub fn frame_header_len(len: u64) -> usize {
    if len <= 255 { 2 } else { 9 }
}

fn write_header(out: &mut [u8], flags: u8, len: u64) -> Result<usize, EncodeError> {
    if len <= 255 {
        let h = out.get_mut(..2).ok_or(EncodeError::BufferTooSmall)?;
        h[0] = flags;
        h[1] = len as u8;
        Ok(2)
    } else {
        let h = out.get_mut(..9).ok_or(EncodeError::BufferTooSmall)?;
        h[0] = flags | FLAG_LONG;
        h[1..].copy_from_slice(&len.to_be_bytes());
        Ok(9)
    }
}

/// Writes the header of a message frame with a `len`-byte body.
pub fn encode_frame_header(out: &mut [u8], more: bool, len: u64) -> Result<usize, EncodeError> {
    write_header(out, if more { FLAG_MORE } else { 0 }, len)
}

/// Writes a whole message frame (header and body).
pub fn encode_frame(out: &mut [u8], more: bool, body: &[u8]) -> Result<usize, EncodeError> {
    let total = frame_header_len(body.len() as u64) + body.len();
    if out.len() < total {
        return Err(EncodeError::BufferTooSmall);
    }
    let h = encode_frame_header(out, more, body.len() as u64)?;
    out[h..total].copy_from_slice(body);
    Ok(total)
}

/// Writes a command frame whose body is `name` followed by the concatenated `data` pieces.
pub fn encode_command(out: &mut [u8], name: &[u8], data: &[&[u8]]) -> Result<usize, EncodeError> {
    let name_len = u8::try_from(name.len()).map_err(|_| EncodeError::FieldTooLong)?;
    let body_len = 1 + name.len() + data.iter().map(|d| d.len()).sum::<usize>();
    let h = frame_header_len(body_len as u64);
    if out.len() < h + body_len {
        return Err(EncodeError::BufferTooSmall);
    }
    let mut at = write_header(out, FLAG_COMMAND, body_len as u64)?;
    out[at] = name_len;
    at += 1;
    for piece in core::iter::once(name).chain(data.iter().copied()) {
        out[at..at + piece.len()].copy_from_slice(piece);
        at += piece.len();
    }
    Ok(at)
}

/// Writes a READY command carrying `properties` (e.g. `Socket-Type`, `Identity`).
pub fn encode_ready(out: &mut [u8], properties: &[(&[u8], &[u8])]) -> Result<usize, EncodeError> {
    let mut body_len = 1 + 5;
    for (name, value) in properties {
        if name.is_empty() || name.len() > 255 || u32::try_from(value.len()).is_err() {
            return Err(EncodeError::FieldTooLong);
        }
        body_len += 1 + name.len() + 4 + value.len();
    }
    let h = frame_header_len(body_len as u64);
    if out.len() < h + body_len {
        return Err(EncodeError::BufferTooSmall);
    }
    let mut at = write_header(out, FLAG_COMMAND, body_len as u64)?;
    out[at] = 5;
    out[at + 1..at + 6].copy_from_slice(b"READY");
    at += 6;
    for (name, value) in properties {
        out[at] = name.len() as u8;
        at += 1;
        out[at..at + name.len()].copy_from_slice(name);
        at += name.len();
        out[at..at + 4].copy_from_slice(&(value.len() as u32).to_be_bytes());
        at += 4;
        out[at..at + value.len()].copy_from_slice(value);
        at += value.len();
    }
    Ok(at)
}

/// Writes an ERROR command with a reason of at most 255 bytes.
pub fn encode_error(out: &mut [u8], reason: &[u8]) -> Result<usize, EncodeError> {
    let len = u8::try_from(reason.len()).map_err(|_| EncodeError::FieldTooLong)?;
    encode_command(out, b"ERROR", &[&[len], reason])
}

/// Writes a ZMTP 3.1 SUBSCRIBE command for a topic prefix.
pub fn encode_subscribe(out: &mut [u8], prefix: &[u8]) -> Result<usize, EncodeError> {
    encode_command(out, b"SUBSCRIBE", &[prefix])
}

/// Writes a ZMTP 3.1 CANCEL command for a topic prefix.
pub fn encode_cancel(out: &mut [u8], prefix: &[u8]) -> Result<usize, EncodeError> {
    encode_command(out, b"CANCEL", &[prefix])
}

/// Writes a PING with a TTL in tenths of a second and up to 16 context bytes.
pub fn encode_ping(out: &mut [u8], ttl_ds: u16, context: &[u8]) -> Result<usize, EncodeError> {
    if context.len() > MAX_PING_CONTEXT {
        return Err(EncodeError::FieldTooLong);
    }
    encode_command(out, b"PING", &[&ttl_ds.to_be_bytes(), context])
}

/// Writes a PONG echoing a PING's context.
pub fn encode_pong(out: &mut [u8], context: &[u8]) -> Result<usize, EncodeError> {
    if context.len() > MAX_PING_CONTEXT {
        return Err(EncodeError::FieldTooLong);
    }
    encode_command(out, b"PONG", &[context])
}
