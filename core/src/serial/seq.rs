//! Receive-side sequence tracking: counts frames lost between the ones that arrived.
//!
//! Every sender numbers its frames with one 16-bit counter per link direction. The receiver
//! expects `last + 1`; a frame further ahead means the frames in between were lost (line
//! noise, a full buffer), and how many is the wrapping difference. A frame *behind* the
//! expected number (a difference of 2^15 or more, read as negative in serial-number arithmetic,
//! as RFC 1982 does) is a duplicate or a restarted sender: it is counted apart and the tracker
//! follows it, so a rebooted peer is tracked again from its new numbers.

/// What one received sequence number means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SeqEvent {
    /// The first frame seen on the link: nothing to compare with.
    First,
    /// The number expected.
    InOrder,
    /// This many frames were lost just before this one.
    Gap(u16),
    /// A number behind the expected one: a duplicate, or the sender restarted.
    Behind,
}

/// Tracks one sender's sequence numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SeqTracker {
    expected: Option<u16>,
    /// Frames lost, summed over all gaps (saturating).
    pub lost: u32,
    /// Gaps seen (runs of lost frames).
    pub gaps: u32,
    /// Frames whose number was behind the expected one.
    pub behind: u32,
}

impl SeqTracker {
    /// A tracker that has seen nothing yet.
    pub const fn new() -> Self {
        Self {
            expected: None,
            lost: 0,
            gaps: 0,
            behind: 0,
        }
    }

    /// Records the arrival of a frame numbered `seq`.
    pub fn on_seq(&mut self, seq: u16) -> SeqEvent {
        let event = match self.expected {
            None => SeqEvent::First,
            Some(expected) => match seq.wrapping_sub(expected) {
                0 => SeqEvent::InOrder,
                ahead if ahead < 0x8000 => {
                    self.lost = self.lost.saturating_add(u32::from(ahead));
                    self.gaps = self.gaps.saturating_add(1);
                    SeqEvent::Gap(ahead)
                }
                _ => {
                    self.behind = self.behind.saturating_add(1);
                    SeqEvent::Behind
                }
            },
        };
        self.expected = Some(seq.wrapping_add(1));
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_gaps_wrap_and_restart() {
        let mut t = SeqTracker::new();
        assert_eq!(t.on_seq(65534), SeqEvent::First);
        assert_eq!(t.on_seq(65535), SeqEvent::InOrder);
        assert_eq!(t.on_seq(0), SeqEvent::InOrder);
        assert_eq!(t.on_seq(3), SeqEvent::Gap(2));
        assert_eq!(t.on_seq(2), SeqEvent::Behind);
        assert_eq!(t.on_seq(3), SeqEvent::InOrder);
        // wrap inside a gap: expected 4, got 1 after wrapping round is "behind"; a jump of
        // 0x7FFF ahead is still a gap.
        assert_eq!(t.on_seq(4 + 0x7FFF), SeqEvent::Gap(0x7FFF));
        assert_eq!(t.lost, 2 + 0x7FFF);
        assert_eq!(t.gaps, 2);
        assert_eq!(t.behind, 1);
    }
}
