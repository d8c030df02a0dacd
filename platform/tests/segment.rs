//! Conformance tests for named segments on this OS.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use ringwire_platform::segment::{CreateMode, CreateOptions, Segment, SegmentError};
use ringwire_platform::{NameError, SegmentName};

fn unique(tag: &str) -> SegmentName {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    SegmentName::new(&format!("t-plat-{tag}-{}-{n}", std::process::id())).unwrap()
}

#[test]
fn create_then_open_sees_the_same_length() {
    let name = unique("len");
    let seg = Segment::create(&name, 10_000).unwrap();
    assert!(seg.is_creator());
    assert_eq!(seg.len(), 10_000);
    assert_eq!(seg.base().as_ptr() as usize % 64, 0);
    let other = Segment::open(&name).unwrap();
    assert!(!other.is_creator());
    assert_eq!(other.len(), 10_000);
}

#[test]
fn create_is_exclusive() {
    let name = unique("excl");
    let _seg = Segment::create(&name, 4096).unwrap();
    assert!(matches!(
        Segment::create(&name, 4096),
        Err(SegmentError::Exists)
    ));
}

#[test]
fn replace_takes_the_name_over() {
    let name = unique("replace");
    let mut old = Segment::create(&name, 4096).unwrap();
    old.set_unlink_on_drop(false);
    let opts = CreateOptions {
        mode: CreateMode::Replace,
        ..CreateOptions::default()
    };
    let new = Segment::create_with(&name, 8192, &opts).unwrap();
    assert_eq!(Segment::open(&name).unwrap().len(), 8192);
    drop(old);
    drop(new);
}

#[test]
fn open_missing_is_not_found() {
    assert!(matches!(
        Segment::open(&unique("missing")),
        Err(SegmentError::NotFound)
    ));
}

#[test]
fn creator_unlinks_on_drop_unless_told_not_to() {
    let name = unique("unlink");
    drop(Segment::create(&name, 4096).unwrap());
    assert!(matches!(Segment::open(&name), Err(SegmentError::NotFound)));

    let mut kept = Segment::create(&name, 4096).unwrap();
    kept.set_unlink_on_drop(false);
    drop(kept);
    assert!(Segment::open(&name).is_ok());
    Segment::unlink(&name).unwrap();
    assert!(matches!(Segment::open(&name), Err(SegmentError::NotFound)));
}

#[cfg(unix)]
#[test]
fn created_owner_only_by_default() {
    let seg = Segment::create(&unique("perm"), 4096).unwrap();
    assert_eq!(seg.permissions(), Some(0o600));
}

#[cfg(unix)]
#[test]
fn permissions_option_is_applied_within_the_umask() {
    let opts = CreateOptions {
        permissions: 0o640,
        ..CreateOptions::default()
    };
    let seg = Segment::create_with(&unique("perm640"), 4096, &opts).unwrap();
    let mode = seg.permissions().unwrap();
    assert_eq!(mode & 0o600, 0o600);
    assert_eq!(mode & !0o640, 0);
}

#[test]
fn zero_size_is_refused() {
    assert!(matches!(
        Segment::create(&unique("zero"), 0),
        Err(SegmentError::BadSize { size: 0 })
    ));
}

#[cfg(target_os = "linux")]
#[test]
fn more_than_dev_shm_holds_is_no_space_not_sigbus() {
    let name = unique("huge");
    // 1 PiB: more than any /dev/shm; fallocate refuses it up front.
    let err = Segment::create(&name, 1 << 50).unwrap_err();
    assert!(
        matches!(err, SegmentError::NoSpace { requested, .. } if requested == 1 << 50),
        "{err:?}"
    );
    assert!(err.to_string().contains("not enough shared memory"));
    // The failed creation leaves no name behind.
    assert!(matches!(Segment::open(&name), Err(SegmentError::NotFound)));
}

#[test]
fn writes_are_visible_through_another_mapping() {
    let name = unique("share");
    let a = Segment::create(&name, 4096).unwrap();
    let b = Segment::open(&name).unwrap();
    // Share through atomics only: this test crate forbids unsafe code, so view the first
    // word through the std AtomicU32 API via a tiny safe helper in the platform crate.
    let wa = ringwire_platform::segment::atomic_u32_at(&a, 128).unwrap();
    let wb = ringwire_platform::segment::atomic_u32_at(&b, 128).unwrap();
    assert_eq!(wb.load(Ordering::Acquire), 0, "new segments read as zeros");
    // SYNC: Release pairs with the Acquire load through the other mapping just below.
    wa.store(0xDEAD_BEEF, Ordering::Release);
    // SYNC: Acquire pairs with the Release store just above.
    assert_eq!(wb.load(Ordering::Acquire), 0xDEAD_BEEF);
    assert!(ringwire_platform::segment::atomic_u32_at(&a, 4094).is_none());
    assert!(ringwire_platform::segment::atomic_u32_at(&a, 2).is_none());
}

#[test]
fn invalid_names_never_reach_the_os() {
    assert!(matches!(
        SegmentName::new("../etc/passwd"),
        Err(NameError::BadChar { ch: '/' })
    ));
    assert!(matches!(SegmentName::new(".."), Err(NameError::DotDot)));
    assert!(matches!(
        SegmentName::new("a\0"),
        Err(NameError::BadChar { .. })
    ));
}

/// Issue #11 item 3: `open` must not follow a symbolic link planted at the segment's name and
/// map its target read/write.
#[cfg(target_os = "linux")]
#[test]
fn open_refuses_a_symlink_and_leaves_its_target_alone() {
    let name = unique("symlink");
    let target =
        std::env::temp_dir().join(format!("ringwire-symlink-target-{}", std::process::id()));
    std::fs::write(&target, vec![b'k'; 8192]).unwrap();
    let link = std::path::Path::new("/dev/shm").join(name.os_name().trim_start_matches('/'));
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let opened = Segment::open(&name);
    let _ = std::fs::remove_file(&link);
    let content = std::fs::read(&target).unwrap();
    let _ = std::fs::remove_file(&target);
    match opened {
        Err(SegmentError::Refused { reason }) => {
            assert!(reason.contains("symbolic link"), "{reason}")
        }
        other => panic!("a symlink was opened: {other:?}"),
    }
    assert_eq!(content, vec![b'k'; 8192]);
}

/// A name that is not a regular file (here a FIFO, which would block or fail under `mmap`) is
/// refused with a clear error.
#[cfg(target_os = "linux")]
#[test]
fn open_refuses_a_non_regular_file() {
    let name = unique("fifo");
    let path = std::path::Path::new("/dev/shm").join(name.os_name().trim_start_matches('/'));
    let made = std::process::Command::new("mkfifo").arg(&path).status();
    if !made.is_ok_and(|s| s.success()) {
        // No mkfifo on this system: nothing to test.
        return;
    }
    let opened = Segment::open(&name);
    let _ = std::fs::remove_file(&path);
    match opened {
        Err(SegmentError::Refused { reason }) => {
            assert!(reason.contains("not a regular"), "{reason}")
        }
        other => panic!("a FIFO was opened: {other:?}"),
    }
}

/// A segment owned by another user is refused (only testable as root, who can `chown`).
#[cfg(target_os = "linux")]
#[test]
fn open_refuses_another_users_file() {
    let name = unique("chown");
    let seg = Segment::create(&name, 4096).unwrap();
    let path = std::path::Path::new("/dev/shm").join(name.os_name().trim_start_matches('/'));
    if std::os::unix::fs::chown(&path, Some(65534), None).is_err() {
        // Not root: cannot give the file away, and cannot be handed one either.
        return;
    }
    match Segment::open(&name) {
        Err(SegmentError::Refused { reason }) => assert!(reason.contains("uid 65534"), "{reason}"),
        other => panic!("another user's segment was opened: {other:?}"),
    }
    drop(seg);
}
