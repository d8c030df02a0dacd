//! The push-style ZMTP decoder.
//!
//! Algorithm: a state machine over `Greeting → (Flags → Size → Body)*`. Bytes that
//! must be seen whole (the greeting, size fields, command bodies) are gathered in a
//! fixed buffer of `N` bytes owned by the decoder; message frame bodies are never
//! buffered but handed out as [`FramePart`]s that borrow the caller's input, so a
//! 1 MiB frame arriving in 4 KiB reads is 256 parts and zero copies here. Every
//! size is compared with [`Limits`] the moment its header completes.

use super::command::Command;
use super::{
    DecodeError, FLAG_COMMAND, FLAG_LONG, FLAG_MORE, GREETING_LEN, Greeting, Limits, Version,
};

/// One decoded unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Item<'a> {
    /// The peer's greeting (always the first item).
    Greeting(Greeting),
    /// A command frame.
    Command(Command<'a>),
    /// A piece of a message frame's body (a frame is one or more parts).
    Frame(FramePart<'a>),
}

/// A piece of a message frame. A frame of `len` bytes is delivered as parts whose
/// `offset`s run from 0 to `len`; an empty frame is one part with empty `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramePart<'a> {
    /// More frames of the same message follow this frame.
    pub more: bool,
    /// The frame's total body length, as announced.
    pub len: u64,
    /// Where `data` starts within the frame body.
    pub offset: u64,
    /// The bytes of this part (borrowed from the input).
    pub data: &'a [u8],
}

impl FramePart<'_> {
    /// Whether this part starts its frame.
    pub fn is_first(&self) -> bool {
        self.offset == 0
    }

    /// Whether this part completes its frame.
    pub fn is_last(&self) -> bool {
        self.offset + self.data.len() as u64 == self.len
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Greeting,
    Flags,
    Size { flags: u8 },
    CommandBody { len: usize },
    FrameBody { more: bool, len: u64, offset: u64 },
}

/// What one step of the state machine produced (kept free of borrows).
enum Step {
    Continue,
    Greeting,
    Command {
        len: usize,
    },
    Frame {
        more: bool,
        len: u64,
        offset: u64,
        start: usize,
        end: usize,
    },
}

/// A push-style ZMTP decoder with an `N`-byte buffer for the greeting and commands
/// (`N` must be at least 64; commands are limited to `min(N, limits.max_command)`).
#[derive(Debug, Clone)]
pub struct Decoder<const N: usize> {
    limits: Limits,
    state: State,
    buf: [u8; N],
    filled: usize,
    ready_seen: bool,
    in_message: bool,
    parts: u32,
    message_bytes: u64,
    failed: Option<DecodeError>,
}

impl<const N: usize> Decoder<N> {
    /// A decoder expecting a greeting first.
    pub const fn new(limits: Limits) -> Self {
        const { assert!(N >= GREETING_LEN, "decoder buffer must hold a greeting") };
        Decoder {
            limits,
            state: State::Greeting,
            buf: [0; N],
            filled: 0,
            ready_seen: false,
            in_message: false,
            parts: 0,
            message_bytes: 0,
            failed: None,
        }
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the peer's READY command has been decoded.
    pub fn handshake_done(&self) -> bool {
        self.ready_seen
    }

    /// Whether a multipart message is partly decoded (a frame with MORE was seen
    /// and its last frame was not yet completed).
    pub fn in_message(&self) -> bool {
        self.in_message || matches!(self.state, State::FrameBody { .. })
    }

    /// Decodes from `input`: returns how many bytes were consumed and at most one item.
    /// When it returns `None` it has consumed all of `input` and needs more.
    pub fn decode<'a>(
        &'a mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Item<'a>>), DecodeError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let mut pos = 0;
        loop {
            match self.step(input, &mut pos) {
                Err(e) => {
                    self.failed = Some(e);
                    return Err(e);
                }
                Ok(Step::Continue) => {
                    if pos == input.len() && !self.has_pending_output() {
                        return Ok((pos, None));
                    }
                }
                Ok(Step::Greeting) => {
                    let g = self.greeting().ok_or(DecodeError::BadMechanism);
                    let g = g.inspect_err(|&e| self.failed = Some(e))?;
                    return Ok((pos, Some(Item::Greeting(g))));
                }
                Ok(Step::Command { len }) => {
                    let Some(cmd) = Command::parse(&self.buf[..len]) else {
                        self.failed = Some(DecodeError::BadCommand);
                        return Err(DecodeError::BadCommand);
                    };
                    if matches!(cmd, Command::Ready(_)) {
                        self.ready_seen = true;
                    }
                    return Ok((pos, Some(Item::Command(cmd))));
                }
                Ok(Step::Frame {
                    more,
                    len,
                    offset,
                    start,
                    end,
                }) => {
                    let data = &input[start..end];
                    return Ok((
                        pos,
                        Some(Item::Frame(FramePart {
                            more,
                            len,
                            offset,
                            data,
                        })),
                    ));
                }
            }
        }
    }

    /// States that can complete without more input (an empty body).
    fn has_pending_output(&self) -> bool {
        match self.state {
            State::CommandBody { len } => self.filled == len,
            State::FrameBody { len, .. } => len == 0,
            _ => false,
        }
    }

    /// Copies up to `want - filled` bytes of `input[*pos..]` into the buffer.
    fn gather(&mut self, input: &[u8], pos: &mut usize, want: usize) {
        let take = (want - self.filled).min(input.len() - *pos);
        self.buf[self.filled..self.filled + take].copy_from_slice(&input[*pos..*pos + take]);
        self.filled += take;
        *pos += take;
    }

    fn step(&mut self, input: &[u8], pos: &mut usize) -> Result<Step, DecodeError> {
        match self.state {
            State::Greeting => {
                self.gather(input, pos, GREETING_LEN);
                self.check_partial_greeting()?;
                if self.filled < GREETING_LEN {
                    return Ok(Step::Continue);
                }
                self.filled = 0;
                self.state = State::Flags;
                Ok(Step::Greeting)
            }
            State::Flags => {
                let Some(&flags) = input.get(*pos) else {
                    return Ok(Step::Continue);
                };
                *pos += 1;
                if flags & !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND) != 0
                    || (flags & FLAG_COMMAND != 0 && flags & FLAG_MORE != 0)
                {
                    return Err(DecodeError::BadFlags(flags));
                }
                self.filled = 0;
                self.state = State::Size { flags };
                Ok(Step::Continue)
            }
            State::Size { flags } => {
                let want = if flags & FLAG_LONG != 0 { 8 } else { 1 };
                self.gather(input, pos, want);
                if self.filled < want {
                    return Ok(Step::Continue);
                }
                let size = if want == 8 {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&self.buf[..8]);
                    u64::from_be_bytes(b)
                } else {
                    u64::from(self.buf[0])
                };
                self.filled = 0;
                self.on_header(flags, size)
            }
            State::CommandBody { len } => {
                self.gather(input, pos, len);
                if self.filled < len {
                    return Ok(Step::Continue);
                }
                self.filled = 0;
                self.state = State::Flags;
                Ok(Step::Command { len })
            }
            State::FrameBody { more, len, offset } => {
                let left = len - offset;
                let avail = (input.len() - *pos) as u64;
                let take = left.min(avail);
                if take == 0 && len != 0 {
                    return Ok(Step::Continue);
                }
                // `take` <= `avail`, which came from a usize.
                let start = *pos;
                let end = start + take as usize;
                *pos = end;
                self.advance_body(more, len, offset + take);
                Ok(Step::Frame {
                    more,
                    len,
                    offset,
                    start,
                    end,
                })
            }
        }
    }

    /// Moves through a frame body to `offset`; at its end, to the next frame's flags.
    fn advance_body(&mut self, more: bool, len: u64, offset: u64) {
        if offset == len {
            self.state = State::Flags;
            if more {
                self.in_message = true;
            } else {
                self.in_message = false;
                self.parts = 0;
                self.message_bytes = 0;
            }
        } else {
            self.state = State::FrameBody { more, len, offset };
        }
    }

    /// Bytes of the current message frame's body still to come (0 between frames and
    /// after an error). A caller expecting many may receive them straight into its own
    /// buffer and account for them with [`skip_body`](Self::skip_body) instead of
    /// passing them through [`decode`](Self::decode), saving a copy.
    pub fn frame_body_left(&self) -> u64 {
        match self.state {
            State::FrameBody { len, offset, .. } if self.failed.is_none() => len - offset,
            _ => 0,
        }
    }

    /// Accounts for up to `n` body bytes of the current frame that the caller received
    /// itself: the same as decoding them, except that nothing is handed out. Returns how
    /// many it took (at most [`frame_body_left`](Self::frame_body_left)) and, if they
    /// completed the frame, the frame's MORE flag.
    pub fn skip_body(&mut self, n: u64) -> (u64, Option<bool>) {
        match self.state {
            State::FrameBody { more, len, offset } if self.failed.is_none() => {
                let take = n.min(len - offset);
                self.advance_body(more, len, offset + take);
                let done = offset + take == len;
                (take, done.then_some(more))
            }
            _ => (0, None),
        }
    }

    /// Checks a frame header against the limits and enters the body state.
    fn on_header(&mut self, flags: u8, size: u64) -> Result<Step, DecodeError> {
        if flags & FLAG_COMMAND != 0 {
            if self.in_message {
                return Err(DecodeError::CommandInsideMessage);
            }
            let cap = self.limits.max_command.min(N);
            if size > cap as u64 {
                return Err(DecodeError::CommandTooLarge(size));
            }
            // `size` <= `cap`, a usize.
            self.state = State::CommandBody { len: size as usize };
            return Ok(Step::Continue);
        }
        if !self.ready_seen {
            return Err(DecodeError::MessageBeforeReady);
        }
        let total = self
            .limits
            .admit_frame(self.parts, self.message_bytes, size)?;
        self.parts += 1;
        self.message_bytes = total;
        self.state = State::FrameBody {
            more: flags & FLAG_MORE != 0,
            len: size,
            offset: 0,
        };
        Ok(Step::Continue)
    }

    /// Rejects a greeting as early as its bytes allow.
    fn check_partial_greeting(&self) -> Result<(), DecodeError> {
        let g = &self.buf[..self.filled];
        if g.first().is_some_and(|&b| b != 0xFF) || g.get(9).is_some_and(|&b| b != 0x7F) {
            return Err(DecodeError::BadSignature);
        }
        match g.get(10) {
            Some(&major) if major < 3 => Err(DecodeError::UnsupportedVersion(major)),
            _ => Ok(()),
        }
    }

    /// Builds the greeting from a full buffer; `None` if the mechanism is malformed.
    fn greeting(&self) -> Option<Greeting> {
        let g = &self.buf[..GREETING_LEN];
        let mut mechanism = [0u8; 20];
        mechanism.copy_from_slice(&g[12..32]);
        let name_len = mechanism.iter().position(|&b| b == 0).unwrap_or(20);
        let valid = mechanism[..name_len].iter().all(u8::is_ascii_graphic)
            && mechanism[name_len..].iter().all(|&b| b == 0);
        if !valid || name_len == 0 {
            return None;
        }
        Some(Greeting {
            version: Version {
                major: g[10],
                minor: g[11],
            },
            mechanism,
            as_server: g[32] != 0,
        })
    }
}
