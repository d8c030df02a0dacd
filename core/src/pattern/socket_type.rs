//! ZeroMQ socket types, their names on the wire (READY's `Socket-Type`) and the
//! compatibility table of spec 23 ("a PUB talks to SUB or XSUB", …).

/// A ZeroMQ socket type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[allow(missing_docs)]
pub enum SocketType {
    Pair,
    Pub,
    Sub,
    Req,
    Rep,
    Dealer,
    Router,
    Pull,
    Push,
    XPub,
    XSub,
}

impl SocketType {
    /// Every socket type.
    pub const ALL: [SocketType; 11] = [
        Self::Pair,
        Self::Pub,
        Self::Sub,
        Self::Req,
        Self::Rep,
        Self::Dealer,
        Self::Router,
        Self::Pull,
        Self::Push,
        Self::XPub,
        Self::XSub,
    ];

    /// The name sent in READY's `Socket-Type` property.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pair => "PAIR",
            Self::Pub => "PUB",
            Self::Sub => "SUB",
            Self::Req => "REQ",
            Self::Rep => "REP",
            Self::Dealer => "DEALER",
            Self::Router => "ROUTER",
            Self::Pull => "PULL",
            Self::Push => "PUSH",
            Self::XPub => "XPUB",
            Self::XSub => "XSUB",
        }
    }

    /// Parses a `Socket-Type` value (exact, upper case as every implementation sends it).
    pub fn from_name(name: &[u8]) -> Option<SocketType> {
        Self::ALL.into_iter().find(|t| t.name().as_bytes() == name)
    }

    /// Whether a socket of this type may talk to a peer of type `peer`.
    pub const fn is_compatible(self, peer: SocketType) -> bool {
        use SocketType::*;
        matches!(
            (self, peer),
            (Pair, Pair)
                | (Pub | XPub, Sub | XSub)
                | (Sub | XSub, Pub | XPub)
                | (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
                | (Push, Pull)
                | (Pull, Push)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_is_symmetric_and_matches_the_spec() {
        for a in SocketType::ALL {
            for b in SocketType::ALL {
                assert_eq!(a.is_compatible(b), b.is_compatible(a), "{a:?} {b:?}");
            }
            assert_eq!(SocketType::from_name(a.name().as_bytes()), Some(a));
        }
        assert!(SocketType::Req.is_compatible(SocketType::Router));
        assert!(!SocketType::Req.is_compatible(SocketType::Req));
        assert!(!SocketType::Pub.is_compatible(SocketType::Pull));
        assert_eq!(SocketType::from_name(b"pub"), None);
    }
}
