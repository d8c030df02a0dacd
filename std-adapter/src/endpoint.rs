//! Endpoint addresses: `shm://name`, `tcp://host:port`, `ipc:///path.sock`, `inproc://name`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Where a socket binds or connects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// A named shared-memory segment on this machine.
    Shm(String),
    /// A TCP address; `host` may be `*` (all interfaces) when binding.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port number.
        port: u16,
    },
    /// A Unix-domain stream socket at a filesystem path.
    Ipc(PathBuf),
    /// In-process transport, named.
    Inproc(String),
}

/// Why an endpoint string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointError {
    input: String,
    reason: &'static str,
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid endpoint {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for EndpointError {}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| EndpointError {
            input: s.to_owned(),
            reason,
        };
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| err("expected scheme://address (shm, tcp, ipc or inproc)"))?;
        if rest.is_empty() {
            return Err(err("address is empty"));
        }
        match scheme {
            "shm" => Ok(Endpoint::Shm(rest.to_owned())),
            "inproc" => Ok(Endpoint::Inproc(rest.to_owned())),
            "ipc" => Ok(Endpoint::Ipc(PathBuf::from(rest))),
            "tcp" => {
                let (host, port) = rest
                    .rsplit_once(':')
                    .ok_or_else(|| err("tcp address needs host:port"))?;
                let host = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host);
                if host.is_empty() {
                    return Err(err("tcp host is empty"));
                }
                let port = port
                    .parse()
                    .map_err(|_| err("tcp port is not a number from 0 to 65535"))?;
                Ok(Endpoint::Tcp {
                    host: host.to_owned(),
                    port,
                })
            }
            _ => Err(err("unknown scheme (expected shm, tcp, ipc or inproc)")),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Shm(name) => write!(f, "shm://{name}"),
            Endpoint::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Endpoint::Ipc(path) => write!(f, "ipc://{}", path.display()),
            Endpoint::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_scheme() {
        assert_eq!(
            "shm://robot/pose".parse(),
            Ok(Endpoint::Shm("robot/pose".into()))
        );
        assert_eq!(
            "tcp://*:5555".parse(),
            Ok(Endpoint::Tcp {
                host: "*".into(),
                port: 5555
            })
        );
        assert_eq!(
            "tcp://[::1]:80".parse(),
            Ok(Endpoint::Tcp {
                host: "::1".into(),
                port: 80
            })
        );
        assert_eq!(
            "ipc:///tmp/a.sock".parse(),
            Ok(Endpoint::Ipc("/tmp/a.sock".into()))
        );
        assert_eq!("inproc://x".parse(), Ok(Endpoint::Inproc("x".into())));
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "shm://",
            "robot",
            "udp://a:1",
            "tcp://host",
            "tcp://:1",
            "tcp://a:99999",
        ] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "shm://a",
            "tcp://127.0.0.1:1",
            "tcp://[::1]:2",
            "ipc:///tmp/x.sock",
            "inproc://q",
        ] {
            assert_eq!(s.parse::<Endpoint>().unwrap().to_string(), s);
        }
    }
}
