//! Segment names: what a user may write after `shm://`, and how it becomes an OS name.
//!
//! A user name is 1 to [`MAX_NAME_LEN`] bytes of ASCII letters, digits and `. _ - : @`,
//! must not be `.`/`..`, must not contain `..`, `/` or NUL. Validating instead of escaping
//! keeps the mapping from user name to OS object obvious (`ls /dev/shm` shows it).
//!
//! The OS name is the user name behind the prefix [`OS_PREFIX`] (`/ringwire.` on POSIX), so
//! `ringwire ls` finds every ringwire segment by that prefix. macOS limits POSIX shm names to
//! 31 bytes (`PSHMNAMLEN`): a longer name keeps its first bytes and ends in `~` plus a 64-bit
//! FNV-1a hash of the whole name in hex, so distinct long names stay distinct (with 2^-64
//! collision odds) and stay recognisable.

use std::fmt;

/// Longest user-visible segment name, in bytes.
pub const MAX_NAME_LEN: usize = 200;

/// What every ringwire OS object name starts with (after the leading `/` on POSIX).
pub const OS_PREFIX: &str = "ringwire.";

/// Longest OS name (including the leading `/`) macOS accepts for `shm_open`.
pub const MACOS_MAX_OS_NAME: usize = 31;

/// Why a segment name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The name contains a byte outside `A-Z a-z 0-9 . _ - : @`.
    BadChar {
        /// The offending character.
        ch: char,
    },
    /// The name is `.`/`..` or contains `..`.
    DotDot,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("segment name is empty"),
            Self::TooLong { len } => write!(
                f,
                "segment name is {len} bytes long; the limit is {MAX_NAME_LEN}"
            ),
            Self::BadChar { ch } => write!(
                f,
                "segment name contains {ch:?}; use only letters, digits and . _ - : @ \
                 (no '/': write robot.pose instead of robot/pose)"
            ),
            Self::DotDot => f.write_str("segment name must not be '.' or contain '..'"),
        }
    }
}

impl std::error::Error for NameError {}

/// A validated segment name (the part after `shm://`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SegmentName(String);

impl SegmentName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<Self, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong { len: name.len() });
        }
        if let Some(ch) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@')))
        {
            return Err(NameError::BadChar { ch });
        }
        if name == "." || name.contains("..") {
            return Err(NameError::DotDot);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The POSIX shm name with no length limit: `/ringwire.<name>`.
    pub fn posix_name(&self) -> String {
        format!("/{OS_PREFIX}{}", self.0)
    }

    /// The POSIX shm name cut to at most `max` bytes (hashing the tail away if needed).
    pub fn posix_name_limited(&self, max: usize) -> String {
        let full = self.posix_name();
        if full.len() <= max {
            return full;
        }
        let hash = format!("~{:016x}", fnv1a64(self.0.as_bytes()));
        // Names are ASCII, so any byte index is a char boundary.
        let keep = max.saturating_sub(hash.len());
        format!("{}{hash}", &full[..keep.min(full.len())])
    }

    /// The name this platform's OS object uses.
    pub fn os_name(&self) -> String {
        if cfg!(target_vendor = "apple") {
            self.posix_name_limited(MACOS_MAX_OS_NAME)
        } else if cfg!(windows) {
            format!("Local\\{OS_PREFIX}{}", self.0)
        } else {
            self.posix_name()
        }
    }
}

impl fmt::Display for SegmentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for SegmentName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// 64-bit FNV-1a (Fowler–Noll–Vo): small, stable across versions and platforms.
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in ["pose", "robot.pose", "cam_0-left", "a:b@c", "x"] {
            assert_eq!(SegmentName::new(ok).unwrap().as_str(), ok);
        }
        assert!(SegmentName::new(&"a".repeat(MAX_NAME_LEN)).is_ok());
    }

    #[test]
    fn rejects_bad_names_with_reasons() {
        assert_eq!(SegmentName::new(""), Err(NameError::Empty));
        assert_eq!(
            SegmentName::new("robot/pose"),
            Err(NameError::BadChar { ch: '/' })
        );
        assert_eq!(
            SegmentName::new("a\0b"),
            Err(NameError::BadChar { ch: '\0' })
        );
        assert_eq!(SegmentName::new("a b"), Err(NameError::BadChar { ch: ' ' }));
        assert_eq!(SegmentName::new("é"), Err(NameError::BadChar { ch: 'é' }));
        assert_eq!(SegmentName::new(".."), Err(NameError::DotDot));
        assert_eq!(SegmentName::new("."), Err(NameError::DotDot));
        assert_eq!(SegmentName::new("a..b"), Err(NameError::DotDot));
        assert_eq!(
            SegmentName::new(&"a".repeat(MAX_NAME_LEN + 1)),
            Err(NameError::TooLong {
                len: MAX_NAME_LEN + 1
            })
        );
        assert!(
            NameError::BadChar { ch: '/' }
                .to_string()
                .contains("robot.pose")
        );
    }

    #[test]
    fn posix_names() {
        let n = SegmentName::new("pose").unwrap();
        assert_eq!(n.posix_name(), "/ringwire.pose");
        assert_eq!(n.posix_name_limited(31), "/ringwire.pose");
    }

    #[test]
    fn long_names_are_hashed_to_fit_macos() {
        let a = SegmentName::new("camera.front.left.rectified.images").unwrap();
        let b = SegmentName::new("camera.front.left.rectified.depth").unwrap();
        let (ma, mb) = (a.posix_name_limited(31), b.posix_name_limited(31));
        assert_eq!(ma.len(), 31);
        assert_eq!(mb.len(), 31);
        assert_ne!(ma, mb);
        assert!(ma.starts_with("/ringwire.came"));
        // Stable: the same name always maps to the same OS name (golden value).
        assert_eq!(
            ma,
            format!("/ringwire.came~{:016x}", fnv1a64(a.as_str().as_bytes()))
        );
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
