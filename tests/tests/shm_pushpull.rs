//! PUSH/PULL between processes: nothing lost, nothing duplicated.
#![forbid(unsafe_code)]

mod shm_common;

use std::time::Duration;

use shm_common::{Peer, numbers, scratch_file, unique};

const WATCHDOG: Duration = Duration::from_secs(300);

/// Reads the pullers' bitmaps; returns (ids seen by more than one puller, ids seen by none).
pub fn merge_bitmaps(files: &[std::path::PathBuf], n: u64) -> (u64, u64) {
    let maps: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let (mut dup, mut missing) = (0, 0);
    for id in 0..n {
        let (byte, bit) = ((id / 8) as usize, 1u8 << (id % 8));
        match maps.iter().filter(|m| m[byte] & bit != 0).count() {
            0 => missing += 1,
            1 => {}
            _ => dup += 1,
        }
    }
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    (dup, missing)
}

#[test]
fn four_workers_share_a_million_jobs_without_loss_or_duplicates() {
    let n = 1_000_000u64;
    let ep = format!("shm://{}", unique("pp-million"));
    let mut pusher = Peer::spawn(
        &["push", &ep, &n.to_string(), "slots=1024", "size=64"],
        WATCHDOG,
    );
    assert_eq!(pusher.line(), "bound");
    let files: Vec<_> = (0..4).map(|i| scratch_file(&format!("pp-{i}"))).collect();
    let mut workers: Vec<Peer> = files
        .iter()
        .map(|f| {
            Peer::spawn(
                &["pull", &ep, &n.to_string(), f.to_str().unwrap()],
                WATCHDOG,
            )
        })
        .collect();
    for w in &mut workers {
        assert_eq!(w.line(), "ready");
    }
    pusher.tell("go");
    assert_eq!(pusher.line(), format!("pushed {n}"));
    pusher.tell("stop 4");
    assert_eq!(pusher.line(), "stopped");
    let mut total = 0;
    for w in workers {
        let out = w.finish();
        total += numbers(out.last().unwrap())[0];
    }
    assert_eq!(total, n);
    assert_eq!(merge_bitmaps(&files, n), (0, 0));
    pusher.finish();
}
