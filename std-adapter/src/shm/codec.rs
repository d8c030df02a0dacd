//! Typed messages in slots: postcard straight into a slot (or scratch buffer) behind the frame
//! headers of `ringwire_core::frames`, and a validated in-place view of a received message.

use serde::Serialize;

use ringwire_core::frames as layout;

use super::frames::FRAME_HEADER;
use crate::error::{Error, Result};

/// Encodes `[topic,] postcard(msg)` into `out`; returns the bytes used.
pub(crate) fn encode_typed<T: Serialize + ?Sized>(
    out: &mut [u8],
    topic: Option<&[u8]>,
    msg: &T,
) -> Result<usize> {
    let limit = out.len();
    let mut at = 0;
    if let Some(topic) = topic {
        let need = FRAME_HEADER + layout::padded(topic.len());
        if need + FRAME_HEADER > limit {
            return Err(Error::TooLarge {
                size: need + FRAME_HEADER,
                limit,
            });
        }
        at = layout::write_frame(out, topic, true)?;
    }
    if at + FRAME_HEADER > limit {
        return Err(Error::TooLarge {
            size: at + FRAME_HEADER,
            limit,
        });
    }
    let body = &mut out[at + FRAME_HEADER..];
    let n = match ringwire_core::msg::encode_into(msg, body) {
        Ok(n) => n,
        Err(ringwire_core::msg::EncodeError::TooLarge) => {
            // Only on this error path: learn the real size for the message.
            let size = postcard::to_stdvec(msg).map_or(0, |v| v.len()) + at + FRAME_HEADER;
            return Err(Error::TooLarge { size, limit });
        }
        Err(e) => return Err(e.into()),
    };
    layout::write_header(&mut out[at..], n, false)?;
    Ok(at + FRAME_HEADER + n)
}

/// A received message viewed in place (in the slot, or in the socket's receive buffer),
/// already validated. Valid only inside the closure given to `recv_with`.
#[derive(Debug, Clone, Copy)]
pub struct MessageRef<'a> {
    payload: &'a [u8],
    count: usize,
}

impl<'a> MessageRef<'a> {
    /// Validates an encoded payload.
    pub(crate) fn new(payload: &'a [u8]) -> Result<Self> {
        let count = layout::validate(payload)?;
        Ok(Self { payload, count })
    }

    /// The frames, in order.
    pub fn frames(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        layout::frames(self.payload).map_while(|f| f.ok())
    }

    /// Number of frames (at least 1).
    pub fn len(&self) -> usize {
        self.count
    }

    /// Always false: a message has at least one frame.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The last frame (the payload of a `[topic, payload]` message).
    pub fn payload(&self) -> &'a [u8] {
        self.frames().last().unwrap_or_default()
    }

    /// The first frame (the topic of a PUB/SUB message).
    pub fn first(&self) -> &'a [u8] {
        self.frames().next().unwrap_or_default()
    }

    /// Decodes the last frame as `T` (borrowing from the slot where `T` does).
    pub fn decode<T: serde::Deserialize<'a>>(&self) -> Result<T> {
        Ok(ringwire_core::msg::decode(self.payload())?)
    }

    /// Copies the frames out into an owned [`Message`](crate::Message).
    pub fn to_message(&self) -> crate::Message {
        self.frames().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_with_topic_layout() {
        let mut out = [0xEEu8; 64];
        let n = encode_typed(&mut out, Some(b"pose"), &(300u16, true)).unwrap();
        // [len 4, more 1]["pose" + 4 pad][len 3, more 0][0xAC 0x02 0x01]
        assert_eq!(
            &out[..n],
            &[
                4, 0, 0, 0, 1, 0, 0, 0, b'p', b'o', b's', b'e', 0, 0, 0, 0, //
                3, 0, 0, 0, 0, 0, 0, 0, 0xAC, 0x02, 0x01
            ]
        );
        let doc = super::super::frames::tests::DOC;
        assert!(doc.contains(&super::super::frames::tests::hex(&out[..n])));
        let m = MessageRef::new(&out[..n]).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m.first(), b"pose");
        assert_eq!(m.decode::<(u16, bool)>().unwrap(), (300, true));
    }

    #[test]
    fn too_large_reports_the_real_size() {
        let mut out = [0u8; 16];
        match encode_typed(&mut out, None, &vec![7u8; 40]) {
            Err(Error::TooLarge { size, limit }) => {
                assert_eq!(limit, 16);
                assert_eq!(size, 8 + 1 + 40);
            }
            other => panic!("{other:?}"),
        }
    }
}
