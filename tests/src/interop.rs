//! Real ZeroMQ peers for interop tests, installed by the tests themselves on first use
//! under a file lock (so parallel tests do not race): pyzmq in a venv under
//! `target/interop-venv` (`python3 -m venv` + `pip install pyzmq==`[`PYZMQ_VERSION`]), and
//! zeromq.js with `npm install zeromq@`[`ZEROMQ_JS_VERSION`] under `target/interop-node`.
//! Both versions are pinned, so a new upstream release cannot change what CI tests against;
//! the marker files record the version, so changing a pin reinstalls.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

/// The pyzmq release the interop tests install (libzmq bundled in its wheel).
pub const PYZMQ_VERSION: &str = "27.3.0";
/// The zeromq.js release the interop tests install (prebuilt binaries in the npm package).
pub const ZEROMQ_JS_VERSION: &str = "6.8.0";

/// The workspace's `target/` directory.
pub fn target_dir() -> PathBuf {
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(t);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
}

/// A Python that can `import zmq`: the venv's interpreter, or (where `python3 -m venv`
/// is unavailable) the system `python3` with pyzmq installed into a directory on
/// `PYTHONPATH`.
#[derive(Debug, Clone)]
pub struct PyZmq {
    /// The interpreter.
    pub python: PathBuf,
    /// Extra `PYTHONPATH` entry, for the fallback install.
    pub path: Option<PathBuf>,
}

/// Finds or installs pyzmq (once per `target/`, under a file lock).
pub fn pyzmq() -> PyZmq {
    let venv = target_dir().join("interop-venv");
    let venv_python = venv.join("bin").join("python3");
    let lib = target_dir().join("interop-pylib");
    let marker = format!(".pyzmq-{PYZMQ_VERSION}-ok");
    let venv_ok = venv.join(&marker);
    let lib_ok = lib.join(&marker);
    let requirement = format!("pyzmq=={PYZMQ_VERSION}");
    let found = |venv_ok: &Path, lib_ok: &Path| {
        if venv_ok.exists() {
            Some(PyZmq {
                python: venv_python.clone(),
                path: None,
            })
        } else if lib_ok.exists() {
            Some(PyZmq {
                python: PathBuf::from("python3"),
                path: Some(lib.clone()),
            })
        } else {
            None
        }
    };
    if let Some(p) = found(&venv_ok, &lib_ok) {
        return p;
    }
    fs::create_dir_all(target_dir()).expect("create target dir");
    let lock = File::create(target_dir().join("interop-venv.lock")).expect("lock file");
    lock.lock().expect("lock the venv");
    if let Some(p) = found(&venv_ok, &lib_ok) {
        return p;
    }
    let quiet = |c: &mut Command| c.stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    let venv_made = quiet(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        && quiet(Command::new(&venv_python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            &requirement,
        ]));
    if venv_made {
        fs::write(&venv_ok, b"ok").expect("write marker");
    } else {
        let ok = quiet(
            Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "--target"])
                .arg(&lib)
                .arg(&requirement),
        );
        assert!(
            ok,
            "could not install pyzmq (python3 -m venv and pip --target both failed)"
        );
        fs::write(&lib_ok, b"ok").expect("write marker");
    }
    drop(lock);
    found(&venv_ok, &lib_ok).expect("pyzmq installed")
}

/// Starts `python3 -c script args…` with pyzmq available, stdout piped.
pub fn spawn_python(script: &str, args: &[&str]) -> Child {
    let py = pyzmq();
    let mut cmd = Command::new(&py.python);
    if let Some(path) = &py.path {
        cmd.env("PYTHONPATH", path);
    }
    cmd.arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn python")
}

/// Directory whose `node_modules` holds zeromq.js, installing it on first use.
pub fn zeromq_js() -> PathBuf {
    let dir = target_dir().join("interop-node");
    let ok = dir.join(format!(".zeromq-{ZEROMQ_JS_VERSION}-ok"));
    if ok.exists() {
        return dir;
    }
    fs::create_dir_all(&dir).expect("create interop-node");
    let lock = File::create(target_dir().join("interop-node.lock")).expect("lock file");
    lock.lock().expect("lock interop-node");
    if !ok.exists() {
        let package = format!("zeromq@{ZEROMQ_JS_VERSION}");
        let status = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--silent",
                "--save-exact",
            ])
            .arg(&package)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .status()
            .expect("run npm");
        assert!(status.success(), "npm install zeromq failed");
        fs::write(&ok, b"ok").expect("write marker");
    }
    drop(lock);
    dir
}

/// The zeromq.js peer script (`src/peer.js`), same arguments as [`PEER_PY`].
pub const PEER_JS: &str = include_str!("peer.js");

/// Which real ZeroMQ implementation plays the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// pyzmq (libzmq through Cython).
    Python,
    /// zeromq.js (libzmq through N-API).
    Node,
}

/// Starts the peer script for `role` (`pub`, `sub`, …), `mode` (`bind`/`connect`) and
/// endpoint, stdout piped.
pub fn spawn_peer(peer: Peer, role: &str, mode: &str, ep: &str) -> Child {
    match peer {
        Peer::Python => spawn_python(PEER_PY, &[role, mode, ep]),
        Peer::Node => {
            let dir = zeromq_js();
            Command::new("node")
                .arg("-e")
                .arg(PEER_JS)
                .args([role, mode, ep])
                .current_dir(&dir)
                .env("NODE_PATH", dir.join("node_modules"))
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn node")
        }
    }
}

/// The pyzmq peer script (`src/peer.py`): `peer.py ROLE (bind|connect) ENDPOINT`.
pub const PEER_PY: &str = include_str!("peer.py");

/// The interop payload of `n` bytes (same formula as `peer.py`).
pub fn payload(n: usize) -> Vec<u8> {
    if n < 4096 {
        (0..n).map(|i| ((i * 7 + 3) % 256) as u8).collect()
    } else {
        payload(256).repeat(n / 256)
    }
}

/// The payload sizes every interop test exchanges.
pub const SIZES: [usize; 5] = [0, 1, 255, 256, 1 << 20];

/// A running peer script: it prints `EP <endpoint>` first, then `OK` when its scenario passed.
/// Dropping it kills the process.
pub struct PeerProcess {
    child: Child,
    out: BufReader<ChildStdout>,
    /// The endpoint the peer bound or connected (port resolved).
    pub ep: String,
}

impl PeerProcess {
    /// Takes over a spawned peer (stdout piped) and reads its `EP` line.
    pub fn attach(mut child: Child) -> PeerProcess {
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        out.read_line(&mut line).expect("peer output");
        let ep = line
            .strip_prefix("EP ")
            .unwrap_or_else(|| panic!("peer said {line:?}"))
            .trim()
            .to_string();
        PeerProcess { child, out, ep }
    }

    /// Waits for the peer to exit and asserts it succeeded and said `OK`.
    pub fn finish(mut self) {
        let mut rest = String::new();
        self.out.read_to_string(&mut rest).expect("peer output");
        let status = self.child.wait().expect("wait peer");
        assert!(
            status.success() && rest.contains("OK"),
            "peer failed: {status} {rest:?}"
        );
    }

    /// Whether the peer has exited.
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
