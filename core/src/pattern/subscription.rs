//! Counted prefix subscriptions over caller storage, for a publisher's per-peer filter
//! and a subscriber's own list (re-sent after a reconnect).
//!
//! libzmq semantics: subscribing to the same prefix twice needs two cancels; a message
//! matches when any subscribed prefix is a prefix of its first frame; the empty prefix
//! matches everything. Storage is a byte arena the caller provides (`[u8; N]` on
//! firmware, a boxed slice on a host), packed as `len: u16 LE, count: u32 LE, bytes`
//! entries, so there is no allocation and the bound is the caller's choice.

const ENTRY_HEADER: usize = 6;

/// The storage is full (or a prefix is longer than 65,535 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Full;

impl core::fmt::Display for Full {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("subscription storage is full")
    }
}

impl core::error::Error for Full {}

/// A multiset of topic prefixes in a caller-provided byte arena.
#[derive(Debug, Clone)]
pub struct Subscriptions<S> {
    storage: S,
    used: usize,
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> Subscriptions<S> {
    /// Empty subscriptions over `storage` (its previous contents are ignored).
    pub fn new(storage: S) -> Self {
        Subscriptions { storage, used: 0 }
    }

    /// Whether there are no subscriptions (nothing matches).
    pub fn is_empty(&self) -> bool {
        self.used == 0
    }

    /// Bytes of storage in use.
    pub fn used_bytes(&self) -> usize {
        self.used
    }

    /// Forgets every subscription.
    pub fn clear(&mut self) {
        self.used = 0;
    }

    /// Finds an entry: `(offset, len, count)`.
    fn find(&self, prefix: &[u8]) -> Option<(usize, usize, u32)> {
        self.entries()
            .find(|&(_, p, _)| p == prefix)
            .map(|(at, p, count)| (at, p.len(), count))
    }

    /// The distinct prefixes with their counts: `(offset, prefix, count)`.
    fn entries(&self) -> impl Iterator<Item = (usize, &[u8], u32)> {
        let arena = &self.storage.as_ref()[..self.used];
        let mut at = 0;
        core::iter::from_fn(move || {
            let h = arena.get(at..at + ENTRY_HEADER)?;
            let len = usize::from(u16::from_le_bytes([h[0], h[1]]));
            let count = u32::from_le_bytes([h[2], h[3], h[4], h[5]]);
            let prefix = arena.get(at + ENTRY_HEADER..at + ENTRY_HEADER + len)?;
            let here = at;
            at += ENTRY_HEADER + len;
            Some((here, prefix, count))
        })
    }

    /// The distinct prefixes, each once.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.entries().map(|(_, p, _)| p)
    }

    /// Adds one subscription; returns `true` if the prefix is new (a proxy forwards it upstream).
    pub fn subscribe(&mut self, prefix: &[u8]) -> Result<bool, Full> {
        if let Some((at, _, count)) = self.find(prefix) {
            let c = count.saturating_add(1).to_le_bytes();
            self.storage.as_mut()[at + 2..at + 6].copy_from_slice(&c);
            return Ok(false);
        }
        let len = u16::try_from(prefix.len()).map_err(|_| Full)?;
        let need = ENTRY_HEADER + prefix.len();
        let arena = self.storage.as_mut();
        let slot = arena.get_mut(self.used..self.used + need).ok_or(Full)?;
        slot[..2].copy_from_slice(&len.to_le_bytes());
        slot[2..6].copy_from_slice(&1u32.to_le_bytes());
        slot[6..].copy_from_slice(prefix);
        self.used += need;
        Ok(true)
    }

    /// Removes one subscription; returns `true` if the prefix is now gone entirely.
    /// Cancelling a prefix that is not subscribed does nothing and returns `false`.
    pub fn cancel(&mut self, prefix: &[u8]) -> bool {
        let Some((at, len, count)) = self.find(prefix) else {
            return false;
        };
        let arena = self.storage.as_mut();
        if count > 1 {
            arena[at + 2..at + 6].copy_from_slice(&(count - 1).to_le_bytes());
            return false;
        }
        let end = at + ENTRY_HEADER + len;
        arena.copy_within(end..self.used, at);
        self.used -= end - at;
        true
    }

    /// Whether `topic` starts with any subscribed prefix.
    #[inline]
    pub fn matches(&self, topic: &[u8]) -> bool {
        self.iter().any(|p| topic.starts_with(p))
    }

    /// Whether `prefix` itself is subscribed (at least once).
    pub fn contains(&self, prefix: &[u8]) -> bool {
        self.find(prefix).is_some()
    }

    /// The length of the longest subscribed prefix: how much of a topic [`matches`]
    /// (Self::matches) can look at, so a reader copies no more of it than that.
    pub fn longest(&self) -> usize {
        self.iter().map(<[u8]>::len).max().unwrap_or(0)
    }

    /// The same subscriptions over other (typically larger) storage, for a host that grows
    /// its arena instead of refusing a subscription; `Full` if they do not fit in it.
    pub fn moved_to<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        mut storage: T,
    ) -> Result<Subscriptions<T>, Full> {
        let used = &self.storage.as_ref()[..self.used];
        storage
            .as_mut()
            .get_mut(..self.used)
            .ok_or(Full)?
            .copy_from_slice(used);
        Ok(Subscriptions {
            storage,
            used: self.used,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matching_with_counts() {
        let mut s = Subscriptions::new([0u8; 64]);
        assert!(!s.matches(b"anything"));
        assert_eq!(s.subscribe(b"pose"), Ok(true));
        assert_eq!(s.subscribe(b"pose"), Ok(false));
        assert_eq!(s.subscribe(b"imu/"), Ok(true));
        assert!(s.matches(b"pose/left") && s.matches(b"imu/0") && !s.matches(b"pos"));
        assert!(!s.cancel(b"pose"));
        assert!(s.matches(b"pose"));
        assert!(s.cancel(b"pose"));
        assert!(!s.matches(b"pose") && s.matches(b"imu/1"));
        assert!(!s.cancel(b"never"));
        assert_eq!(s.iter().collect::<std::vec::Vec<_>>(), [b"imu/"]);
        assert_eq!(s.subscribe(b""), Ok(true));
        assert!(s.matches(b"") && s.matches(b"zzz"));
    }

    #[test]
    fn full_storage_is_an_error() {
        let mut s = Subscriptions::new([0u8; 16]);
        assert_eq!(s.subscribe(b"0123456789"), Ok(true));
        assert_eq!(s.subscribe(b"x"), Err(Full));
        assert!(s.cancel(b"0123456789"));
        assert_eq!(s.used_bytes(), 0);
        assert_eq!(s.subscribe(b"x"), Ok(true));
    }

    #[test]
    fn longest_contains_and_moving_to_more_storage() {
        let mut s = Subscriptions::new([0u8; 16]);
        assert_eq!(s.longest(), 0);
        s.subscribe(b"abc").unwrap();
        s.subscribe(b"abc").unwrap();
        assert!(s.contains(b"abc") && !s.contains(b"ab"));
        assert_eq!(s.longest(), 3);
        assert_eq!(s.subscribe(b"0123456789"), Err(Full));
        assert!(s.moved_to([0u8; 4]).is_err());
        let mut big = s.moved_to([0u8; 64]).unwrap();
        assert_eq!(big.subscribe(b"0123456789"), Ok(true));
        assert_eq!(big.longest(), 10);
        assert!(!big.cancel(b"abc"), "the count moved too");
        assert!(big.cancel(b"abc"));
        assert!(!big.contains(b"abc"));
    }
}
