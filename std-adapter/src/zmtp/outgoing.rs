//! A message on its way out: the caller's borrowed slices, or buffers the caller gave up
//! (the owned sends). A byte stream reads either as slices and encodes them; an
//! `inproc://` pipe needs buffers of its own, and takes given-up ones as they are (no
//! copy), copying only borrowed ones.

/// The frames of one outgoing message (after any prefix the socket type adds).
#[derive(Debug)]
pub enum Outgoing<'a> {
    /// The caller's slices (copied where a pipe keeps them).
    Slices(&'a [&'a [u8]]),
    /// A view of given-up buffers that another recipient takes (a publisher's earlier
    /// subscribers): copied like slices.
    Shared(&'a [Vec<u8>]),
    /// Buffers the caller gave up: the first pipe to queue the message takes them.
    Owned(Vec<Vec<u8>>),
}

impl Outgoing<'_> {
    /// How many frames.
    pub fn len(&self) -> usize {
        match self {
            Outgoing::Slices(s) => s.len(),
            Outgoing::Shared(v) => v.len(),
            Outgoing::Owned(v) => v.len(),
        }
    }

    /// Frame `i` (empty past the end).
    pub fn get(&self, i: usize) -> &[u8] {
        let f = match self {
            Outgoing::Slices(s) => s.get(i).copied(),
            Outgoing::Shared(v) => v.get(i).map(Vec::as_slice),
            Outgoing::Owned(v) => v.get(i).map(Vec::as_slice),
        };
        f.unwrap_or_default()
    }

    /// The frames as slices.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + Clone {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Bytes of all frames.
    pub fn size(&self) -> usize {
        self.iter().map(<[u8]>::len).sum()
    }

    /// A view that copies where a pipe keeps it (for a recipient that is not the last),
    /// leaving given-up buffers to the last one.
    pub fn view(&self) -> Outgoing<'_> {
        match self {
            Outgoing::Slices(s) => Outgoing::Slices(s),
            Outgoing::Shared(v) => Outgoing::Shared(v),
            Outgoing::Owned(v) => Outgoing::Shared(v),
        }
    }

    /// The message as a pipe carries it: copies of `prefix` then the frames, given-up
    /// buffers moved (they are gone from `self` afterwards), others copied.
    #[inline]
    pub fn take_for_pipe(&mut self, prefix: &[&[u8]]) -> Vec<Vec<u8>> {
        let copies = || prefix.iter().map(|f| f.to_vec());
        match self {
            Outgoing::Slices(s) => prefix.iter().chain(*s).map(|f| f.to_vec()).collect(),
            Outgoing::Shared(v) => copies().chain(v.iter().cloned()).collect(),
            Outgoing::Owned(v) if prefix.is_empty() => std::mem::take(v),
            Outgoing::Owned(v) => {
                let mut all = Vec::with_capacity(prefix.len() + v.len());
                all.extend(copies());
                all.append(v);
                all
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_buffers_move_into_a_pipe_and_borrowed_ones_are_copied() {
        let body = b"body".to_vec();
        let at = body.as_ptr();
        let mut owned = Outgoing::Owned(vec![body]);
        assert_eq!((owned.len(), owned.size()), (1, 4));
        let mut copy = owned.view();
        let copied = copy.take_for_pipe(&[b""]);
        assert_eq!(copied, vec![b"".to_vec(), b"body".to_vec()]);
        assert_ne!(copied[1].as_ptr(), at);
        let moved = owned.take_for_pipe(&[b""]);
        assert_eq!(moved[1].as_ptr(), at);
        assert_eq!(owned.len(), 0);
        let mut slices = Outgoing::Slices(&[b"a", b"bc"]);
        assert_eq!(slices.iter().collect::<Vec<_>>(), [&b"a"[..], b"bc"]);
        assert_eq!(slices.get(2), b"");
        assert_eq!(
            slices.take_for_pipe(&[]),
            vec![b"a".to_vec(), b"bc".to_vec()]
        );
    }
}
