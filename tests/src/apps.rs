//! The Python and Node.js clients of `ringwire::apps` (`clients/python`, `clients/node`) as
//! test peers: `src/apps_peer.py` and `src/apps_peer.js` run one scenario each, on pyzmq and
//! zeromq.js installed by [`crate::interop`].

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};

use crate::interop::{pyzmq, zeromq_js};

/// The Python scenario script.
pub const PEER_PY: &str = include_str!("apps_peer.py");
/// The Node.js scenario script.
pub const PEER_JS: &str = include_str!("apps_peer.js");

/// The repository's `clients/` directory.
pub fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("clients")
}

/// Which client library plays the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// `clients/python` on pyzmq.
    Python,
    /// `clients/node` on zeromq.js.
    Node,
}

/// Starts a scenario (`args[0]` is the mode) of `lang`'s peer script, stdout piped.
pub fn spawn(lang: Lang, args: &[&str]) -> AppsPeer {
    let child = match lang {
        Lang::Python => {
            let py = pyzmq();
            let mut path = clients_dir().join("python").into_os_string();
            if let Some(p) = &py.path {
                path.push(":");
                path.push(p);
            }
            Command::new(&py.python)
                .env("PYTHONPATH", path)
                .arg("-c")
                .arg(PEER_PY)
                .args(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn python")
        }
        Lang::Node => {
            let dir = zeromq_js();
            Command::new("node")
                .arg("-e")
                .arg(PEER_JS)
                .arg("--")
                .args(args)
                .current_dir(&dir)
                .env("NODE_PATH", dir.join("node_modules"))
                .env(
                    "RINGWIRE_APPS_NODE",
                    clients_dir().join("node").join("index.js"),
                )
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn node")
        }
    };
    AppsPeer::attach(child)
}

/// A running scenario; dropping it kills the process.
pub struct AppsPeer {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl AppsPeer {
    fn attach(mut child: Child) -> AppsPeer {
        let out = BufReader::new(child.stdout.take().expect("piped"));
        AppsPeer { child, out }
    }

    /// The peer's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line the peer prints (panics on `FAIL` or end of output).
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).expect("peer output");
        assert!(
            !line.is_empty() && !line.starts_with("FAIL"),
            "peer failed: {line:?}"
        );
        line.trim().to_string()
    }

    /// Waits for the peer to exit, asserts it succeeded, and returns its last line (`OK …`).
    pub fn finish(mut self) -> String {
        let mut rest = String::new();
        self.out.read_to_string(&mut rest).expect("peer output");
        let status = self.child.wait().expect("wait peer");
        let last = rest.lines().last().unwrap_or_default().to_string();
        assert!(
            status.success() && last.starts_with("OK"),
            "peer failed: {status} {rest:?}"
        );
        last
    }
}

impl Drop for AppsPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
