//! `ringwire::logging`: records reach the file, files rotate at the size limit and only the
//! newest are kept. One test: a process has one logger.
#![cfg(feature = "logging")]

use ringwire::logging::{LogOptions, setup_logging_with};

#[test]
fn records_go_to_a_rotated_file_and_old_files_are_removed() {
    let dir = std::env::temp_dir().join(format!("rw-logging-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // SAFETY: this binary holds this one test and has started no other thread, so nothing
    // reads the environment while it changes.
    unsafe { std::env::set_var("RINGWIRE_LOG", "info,noisy=off") };
    let handle = setup_logging_with(LogOptions {
        dir: Some(dir.clone()),
        basename: Some("t".into()),
        max_bytes: 2_000,
        keep: 2,
        ..LogOptions::default()
    })
    .unwrap();
    assert_eq!(
        handle.current_file(),
        Some(dir.join("t_rCURRENT.log").as_path())
    );
    for i in 0..200 {
        log::info!("record number {i:04} with some padding to fill the file");
        log::debug!("below the level: never written");
        log::info!(target: "noisy", "switched off by the module list");
    }
    handle.flush();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // The current file and at most `keep` rotated ones (200 records of ~100 B made ~10).
    assert!(names.contains(&"t_rCURRENT.log".to_owned()), "{names:?}");
    assert!(names.len() <= 3 && names.len() >= 2, "{names:?}");
    let current = std::fs::read_to_string(dir.join("t_rCURRENT.log")).unwrap();
    assert!(
        current.len() <= 2_100,
        "rotated at the size limit: {}",
        current.len()
    );
    assert!(current.contains("record number 0199"), "{current}");
    assert!(!current.contains("below the level"), "{current}");
    assert!(!current.contains("switched off"), "{current}");
    drop(handle);
    std::fs::remove_dir_all(&dir).unwrap();
}
