//! A node's id, kept in a small config file so it survives restarts: used as a worker's
//! routing id, so a router recognises the worker when it reconnects (the seed's
//! `config.ini`).

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io::{ErrorKind as IoKind, Write};
use std::path::Path;

use super::BrokerError;
use crate::error::{Error, Result};

const KEY: &str = "node_id";
const MAX_ID: usize = 255;

/// A node's id: 1 to 255 printable ASCII bytes (a new one is 32 hex digits).
///
/// The file is INI-like: `node_id = <id>` on a line (under any section; `#` and `;` start
/// comments). [`NodeId::load_or_create`] writes
///
/// ```text
/// # ringwire node id: the routing id of this node's sockets (delete to make a new one)
/// [node]
/// node_id = 5f0c1b2e9a7d4c3b8e6f1a2d3c4b5a69
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeId(String);

impl NodeId {
    /// Reads the id in `path`, or makes a new one and writes it there (creating the folder)
    /// if the file does not exist. An unreadable file is [`Error::Io`]; a file without a
    /// valid `node_id` line is [`BrokerError::Config`] (it is never overwritten).
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<NodeId> {
        let path = path.as_ref();
        match std::fs::read(path) {
            Ok(bytes) => return Self::parse(path, &bytes),
            Err(e) if e.kind() == IoKind::NotFound => {}
            Err(e) => return Err(Error::Io(e)),
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let id = NodeId::random();
        let text = format!(
            "# ringwire node id: the routing id of this node's sockets (delete to make a new one)\n\
             [node]\n{KEY} = {}\n",
            id.0
        );
        // create_new: two processes starting at once agree on the first one's id.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(mut f) => {
                f.write_all(text.as_bytes())?;
                f.sync_all()?;
                log::info!("node id {id} created in {}", path.display());
                Ok(id)
            }
            Err(e) if e.kind() == IoKind::AlreadyExists => Self::parse(path, &std::fs::read(path)?),
            Err(e) => Err(Error::Io(e)),
        }
    }

    /// An id from a string (1 to 255 printable ASCII bytes, no spaces).
    pub fn new(id: &str) -> std::result::Result<NodeId, String> {
        if id.is_empty() || id.len() > MAX_ID {
            return Err(format!(
                "a node id is 1 to {MAX_ID} bytes, not {}",
                id.len()
            ));
        }
        if !id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "a node id is printable ASCII without spaces: {id:?}"
            ));
        }
        Ok(NodeId(id.to_string()))
    }

    /// A new random id (32 hex digits; unique, not secret).
    pub fn random() -> NodeId {
        let mut out = String::with_capacity(32);
        for half in 0..2u64 {
            // RandomState is seeded from the OS once per process, then stepped per instance.
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(half);
            h.write_u32(std::process::id());
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            h.write_u128(now);
            out.push_str(&format!("{:016x}", h.finish()));
        }
        NodeId(out)
    }

    fn parse(path: &Path, bytes: &[u8]) -> Result<NodeId> {
        let bad = |detail: String| {
            Error::Broker(BrokerError::Config {
                path: path.to_path_buf(),
                detail,
            })
        };
        let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with(['#', ';', '[']) {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(bad(format!("line {}: expected `key = value`", n + 1)));
            };
            if key.trim() == KEY {
                return NodeId::new(value.trim()).map_err(|e| bad(format!("line {}: {e}", n + 1)));
            }
        }
        Err(bad(format!("no `{KEY} = ...` line")))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as routing-id bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
