//! ZMTP commands: parsing a command frame's body into a [`Command`].
//!
//! A command body is `name-size(1) name data`. READY's data is a property list
//! (`name-size(1) name value-size(4, big-endian) value`, repeated), which
//! [`Properties`] validates once and then iterates without further checks.

use super::MAX_PING_CONTEXT;

/// A decoded command, borrowing from the decoder's command buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command<'a> {
    /// NULL handshake: the peer's metadata (`Socket-Type`, `Identity`, …).
    Ready(Properties<'a>),
    /// The peer refuses the connection, with a reason (at most 255 bytes).
    Error(&'a [u8]),
    /// ZMTP 3.1: the peer subscribes to a topic prefix.
    Subscribe(&'a [u8]),
    /// ZMTP 3.1: the peer cancels one subscription to a topic prefix.
    Cancel(&'a [u8]),
    /// ZMTP 3.1 heartbeat: `ttl` in tenths of a second (0 = none), up to 16 context bytes.
    Ping {
        /// How long the peer may stay silent before we time it out, in deciseconds.
        ttl_ds: u16,
        /// Bytes to echo back in the PONG.
        context: &'a [u8],
    },
    /// ZMTP 3.1 heartbeat reply, echoing the PING's context.
    Pong(&'a [u8]),
    /// A command this codec does not know; ignored by peers per the spec.
    Unknown {
        /// The command name.
        name: &'a [u8],
        /// The command data after the name.
        data: &'a [u8],
    },
}

impl<'a> Command<'a> {
    /// Parses a command frame's body.
    pub fn parse(body: &'a [u8]) -> Option<Command<'a>> {
        let (&name_len, rest) = body.split_first()?;
        let name_len = usize::from(name_len);
        if rest.len() < name_len {
            return None;
        }
        let (name, data) = rest.split_at(name_len);
        Some(match name {
            b"READY" => Command::Ready(Properties::parse(data)?),
            b"ERROR" => {
                let (&len, reason) = data.split_first()?;
                if reason.len() != usize::from(len) {
                    return None;
                }
                Command::Error(reason)
            }
            b"SUBSCRIBE" => Command::Subscribe(data),
            b"CANCEL" => Command::Cancel(data),
            b"PING" => {
                if data.len() < 2 || data.len() > 2 + MAX_PING_CONTEXT {
                    return None;
                }
                Command::Ping {
                    ttl_ds: u16::from_be_bytes([data[0], data[1]]),
                    context: &data[2..],
                }
            }
            b"PONG" if data.len() <= MAX_PING_CONTEXT => Command::Pong(data),
            b"PONG" => return None,
            _ => Command::Unknown { name, data },
        })
    }
}

/// A validated READY property list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Properties<'a> {
    bytes: &'a [u8],
}

impl<'a> Properties<'a> {
    /// Validates a property list; `None` if a length overruns the bytes or a name is empty.
    pub fn parse(bytes: &'a [u8]) -> Option<Properties<'a>> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (_, _, tail) = split_property(rest)?;
            rest = tail;
        }
        Some(Properties { bytes })
    }

    /// The properties, in wire order.
    pub fn iter(&self) -> PropertyIter<'a> {
        PropertyIter { rest: self.bytes }
    }

    /// The value of a property; names compare case-insensitively (spec 23).
    pub fn get(&self, name: &[u8]) -> Option<&'a [u8]> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The `Socket-Type` property.
    pub fn socket_type(&self) -> Option<&'a [u8]> {
        self.get(b"Socket-Type")
    }

    /// The `Identity` property (ROUTER peers use it as the routing id).
    pub fn identity(&self) -> Option<&'a [u8]> {
        self.get(b"Identity")
    }

    /// The raw encoded list.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Iterator over `(name, value)` pairs of a validated [`Properties`].
#[derive(Debug, Clone)]
pub struct PropertyIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for PropertyIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (name, value, tail) = split_property(self.rest)?;
        self.rest = tail;
        Some((name, value))
    }
}

/// Splits one property off the front: `(name, value, rest)`.
fn split_property(bytes: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (&name_len, rest) = bytes.split_first()?;
    let name_len = usize::from(name_len);
    if name_len == 0 || rest.len() < name_len + 4 {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let (len, rest) = rest.split_at(4);
    let value_len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
    let value_len = usize::try_from(value_len).ok()?;
    if rest.len() < value_len {
        return None;
    }
    let (value, rest) = rest.split_at(value_len);
    Some((name, value, rest))
}
