//! Real ZeroMQ peers for interop tests: pyzmq in a venv under `target/interop-venv`,
//! created on first use (`python3 -m venv` + `pip install pyzmq`) under a file lock so
//! parallel tests do not race.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The workspace's `target/` directory.
pub fn target_dir() -> PathBuf {
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(t);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
}

/// Path to a Python interpreter that can `import zmq`, installing pyzmq on first use.
pub fn pyzmq_python() -> PathBuf {
    let venv = target_dir().join("interop-venv");
    let python = venv.join("bin").join("python3");
    let marker = venv.join(".pyzmq-ok");
    if marker.exists() {
        return python;
    }
    fs::create_dir_all(target_dir()).expect("create target dir");
    let lock = File::create(target_dir().join("interop-venv.lock")).expect("lock file");
    lock.lock().expect("lock the venv");
    if !marker.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("run python3 -m venv");
        assert!(ok.success(), "python3 -m venv failed");
        let ok = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "pyzmq"])
            .status()
            .expect("run pip");
        assert!(ok.success(), "pip install pyzmq failed");
        fs::write(&marker, b"ok").expect("write marker");
    }
    drop(lock);
    python
}

/// Starts `python3 -c script args…` with pyzmq available, stdout piped.
pub fn spawn_python(script: &str, args: &[&str]) -> Child {
    Command::new(pyzmq_python())
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn python")
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
