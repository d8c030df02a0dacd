//! Multipart messages: a message is one or more frames of bytes, as in ZeroMQ.
//! For PUB/SUB the first frame is the topic that subscriptions match by prefix.

/// A message of one or more frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    frames: Vec<Vec<u8>>,
}

impl Message {
    /// An empty message (no frames yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// A message from frames.
    pub fn from_frames<I, F>(frames: I) -> Self
    where
        I: IntoIterator<Item = F>,
        F: Into<Vec<u8>>,
    {
        Self {
            frames: frames.into_iter().map(Into::into).collect(),
        }
    }

    /// Appends a frame.
    pub fn push(&mut self, frame: impl Into<Vec<u8>>) {
        self.frames.push(frame.into());
    }

    /// The frames, in order.
    pub fn frames(&self) -> &[Vec<u8>] {
        &self.frames
    }

    /// Takes the frames out.
    pub fn into_frames(self) -> Vec<Vec<u8>> {
        self.frames
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the message has no frames.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The last frame (the payload of a `[topic, payload]` message), if any.
    pub fn payload(&self) -> Option<&[u8]> {
        self.frames.last().map(Vec::as_slice)
    }

    /// Removes every frame, keeping the allocation for reuse.
    pub fn clear(&mut self) {
        self.frames.clear();
    }
}

impl<F: Into<Vec<u8>>> FromIterator<F> for Message {
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> Self {
        Self::from_frames(iter)
    }
}
