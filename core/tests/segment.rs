//! Segment header: golden bytes from docs/segment-layout.md, creation and open errors.
#![forbid(unsafe_code)]

use ringwire_core::region::{LocalRegion, Region};
use ringwire_core::ring::Notify;
use ringwire_core::ring::broadcast::Broadcast;
use ringwire_core::ring::mpmc::Mpmc;
use ringwire_core::ring::spsc::Spsc;
use ringwire_core::segment::{
    CreateError, Creator, OpenError, Peek, RingConfig, RingKind, Segment, TYPE_NAME_LEN, TypeName,
    fnv1a64,
};

const DOC: &str = include_str!("../../docs/segment-layout.md");

fn golden_from_doc() -> Vec<u8> {
    let start = DOC
        .find("```golden-header\n")
        .expect("golden block in the doc")
        + 17;
    let end = start + DOC[start..].find("```").expect("end of golden block");
    let mut bytes = Vec::new();
    for (i, line) in DOC[start..end].lines().enumerate() {
        let (offset, hex) = line.split_once(": ").expect("offset: bytes");
        assert_eq!(usize::from_str_radix(offset, 16).unwrap(), i * 16);
        bytes.extend(hex.split(' ').map(|b| u8::from_str_radix(b, 16).unwrap()));
    }
    bytes
}

fn cfg() -> RingConfig {
    RingConfig::new(24, 4, "golden::Msg")
}

#[test]
#[cfg(target_endian = "little")]
fn fresh_header_matches_the_documented_golden_bytes() {
    let golden = golden_from_doc();
    assert_eq!(golden.len(), 256);
    let mut region = Box::new(LocalRegion::<1024>::new());
    let creator = Creator {
        pid: 0x0102_0304,
        start_time: 0x1122_3344_5566_7788,
    };
    let ring = Broadcast::create(&*region, cfg(), creator).unwrap();
    assert_eq!(ring.segment().creator(), creator);
    let mut actual = [0u8; 256];
    region.read_at(0, &mut actual);
    assert_eq!(&actual[..], &golden[..]);
}

#[test]
fn fnv1a_matches_reference_vectors() {
    assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    assert_eq!(cfg().type_hash, 0x5d60_0f19_c4fc_e511);
}

#[test]
fn create_refuses_small_regions_bad_configs_and_reuse() {
    let region = LocalRegion::<512>::new();
    assert_eq!(
        Spsc::create(&region, RingConfig::new(24, 8, "t"), Creator::default()).unwrap_err(),
        CreateError::RegionTooSmall {
            needed: 256 + 8 * 64,
            len: 512
        }
    );
    assert_eq!(
        Spsc::create(&region, RingConfig::new(24, 3, "t"), Creator::default()).unwrap_err(),
        CreateError::InvalidConfig
    );
    assert_eq!(
        Spsc::create(&region, RingConfig::new(0, 2, "t"), Creator::default()).unwrap_err(),
        CreateError::InvalidConfig
    );
    assert_eq!(
        Mpmc::create(&region, RingConfig::new(24, 1, "t"), Creator::default()).unwrap_err(),
        CreateError::InvalidConfig
    );
    // MPMC needs its participant table after the slots: 64 entries of 64 bytes.
    let mpmc = RingConfig::new(24, 4, "t");
    assert_eq!(
        mpmc.required_len_for(RingKind::Mpmc),
        Some(256 + 4 * 64 + 64 * 64)
    );
    assert_eq!(mpmc.required_len_for(RingKind::Spsc), mpmc.required_len());
    assert_eq!(
        Mpmc::create(&region, mpmc, Creator::default()).unwrap_err(),
        CreateError::RegionTooSmall {
            needed: 256 + 4 * 64 + 64 * 64,
            len: 512
        }
    );
    let _ring = Spsc::create(&region, RingConfig::new(24, 4, "t"), Creator::default()).unwrap();
    assert_eq!(
        Broadcast::create(&region, RingConfig::new(24, 4, "t"), Creator::default()).unwrap_err(),
        CreateError::AlreadyInitialised { state: 2 }
    );
}

#[test]
fn open_checks_every_header_field() {
    let mut region = Box::new(LocalRegion::<1024>::new());
    assert_eq!(
        Broadcast::open(&*region, cfg()).unwrap_err(),
        OpenError::Uninitialised
    );
    assert!(OpenError::Uninitialised.is_retryable());
    region.write_at(12, &1u32.to_ne_bytes());
    assert_eq!(
        Broadcast::open(&*region, cfg()).unwrap_err(),
        OpenError::Initialising
    );
    region.write_at(12, &0u32.to_ne_bytes());

    Broadcast::create(&*region, cfg(), Creator::default()).unwrap();
    assert!(Broadcast::open(&*region, cfg()).is_ok());
    assert_eq!(
        Spsc::open(&*region, cfg()).unwrap_err(),
        OpenError::KindMismatch {
            found: RingKind::Broadcast as u32
        }
    );
    assert_eq!(
        Broadcast::open(&*region, RingConfig::new(24, 8, "golden::Msg")).unwrap_err(),
        OpenError::GeometryMismatch {
            slot_size: 24,
            slot_count: 4
        }
    );
    assert_eq!(
        Broadcast::open(&*region, RingConfig::new(24, 4, "other::Msg")).unwrap_err(),
        OpenError::TypeMismatch {
            found_hash: cfg().type_hash,
            found: TypeName::new("golden::Msg"),
            expected: TypeName::new("other::Msg"),
        }
    );
    let err = Broadcast::open(&*region, RingConfig::new(24, 4, "other::Msg")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "segment carries message type `golden::Msg`, expected `other::Msg`"
    );
    let small = LocalRegion::<128>::new();
    assert_eq!(
        Broadcast::open(&small, cfg()).unwrap_err(),
        OpenError::TooSmall {
            needed: 256,
            len: 128
        }
    );

    let mut pristine = [0u8; 256];
    region.read_at(0, &mut pristine);
    let mut corrupt = |offset: usize, bytes: &[u8]| {
        region.write_at(0, &pristine);
        region.write_at(offset, bytes);
        Broadcast::open(&*region, cfg()).unwrap_err()
    };
    assert_eq!(corrupt(0, b"NOTRINGW"), OpenError::BadMagic);
    assert_eq!(
        corrupt(8, &1u32.to_ne_bytes()),
        OpenError::VersionMismatch { found: 1 }
    );
    // A subscriber table larger than any creator makes.
    assert_eq!(
        corrupt(76, &1025u32.to_ne_bytes()),
        OpenError::CorruptHeader
    );
    assert_eq!(corrupt(12, &7u32.to_ne_bytes()), OpenError::CorruptHeader);
    assert_eq!(corrupt(16, &9u32.to_ne_bytes()), OpenError::CorruptHeader);
    assert_eq!(corrupt(20, &25u32.to_ne_bytes()), OpenError::CorruptHeader);
    assert_eq!(corrupt(28, &128u32.to_ne_bytes()), OpenError::CorruptHeader);
    assert_eq!(corrupt(40, &[0xff]), OpenError::CorruptHeader);
    // A consistent header that claims more slots than the region holds.
    region.write_at(0, &pristine);
    let mut region_small = LocalRegion::<448>::new();
    let mut header = [0u8; 256];
    region.read_at(0, &mut header);
    region_small.write_at(0, &header);
    assert_eq!(
        Broadcast::open(&region_small, cfg()).unwrap_err(),
        OpenError::TooSmall {
            needed: 512,
            len: 448
        }
    );
}

#[test]
fn creator_is_readable_while_initialising() {
    let mut region = LocalRegion::<1024>::new();
    let creator = Creator {
        pid: 42,
        start_time: 7,
    };
    Spsc::create(&region, cfg(), creator).unwrap();
    region.write_at(12, &1u32.to_ne_bytes());
    assert_eq!(
        Spsc::open(&region, cfg()).unwrap_err(),
        OpenError::Initialising
    );
    assert_eq!(Segment::creator_of(&&region), Some(creator));
}

#[test]
fn senders_report_wake_only_when_a_waiter_is_registered() {
    let region = Box::new(LocalRegion::<1024>::new());
    let ring = Broadcast::create(&*region, cfg(), Creator::default()).unwrap();
    let mut writer = ring.writer(1).unwrap();
    assert_eq!(writer.try_send(b"a").unwrap(), Notify::Nobody);
    let before = ring.segment().event_value();
    let seen = ring.segment().register_waiter();
    assert_eq!(seen, before);
    assert_eq!(ring.segment().waiters(), 1);
    assert_eq!(writer.try_send(b"b").unwrap(), Notify::Wake);
    assert_ne!(
        ring.segment().event_value(),
        seen,
        "the event word moved, so a futex wait returns"
    );
    ring.segment().unregister_waiter();
    ring.segment().unregister_waiter();
    assert_eq!(ring.segment().waiters(), 0, "unregister saturates at zero");
    assert_eq!(writer.try_send(b"c").unwrap(), Notify::Nobody);
    let addr = ring.segment().event_word_addr().as_ptr() as usize;
    assert_eq!(addr - region.base().as_ptr() as usize, 68);
}

/// Issue #10, item 5: a tool peeking at a header (the platform's cleanup) while a creator writes
/// it. Both sides access each field at its one width (the old cleanup read the u64 magic as two
/// u32 loads, and the old test helpers read headers with usize words: Miri reported those as
/// mixed-size races with the creator's u32 stores).
#[test]
fn peeking_races_creation_at_matching_widths() {
    let region = Box::new(LocalRegion::<1024>::new());
    let creator = Creator {
        pid: 9,
        start_time: 11,
    };
    std::thread::scope(|s| {
        let region = &*region;
        s.spawn(move || {
            for _ in 0..if cfg!(miri) { 20 } else { 2000 } {
                match Segment::peek(&region) {
                    Peek::Uninitialised | Peek::Initialising(_) => {}
                    Peek::Ready(c) => assert_eq!(c, creator),
                    other => panic!("{other:?}"),
                }
            }
        });
        Spsc::create(region, cfg(), creator).unwrap();
    });
    assert_eq!(Segment::peek(&&*region), Peek::Ready(creator));
    let mut foreign = LocalRegion::<256>::new();
    foreign.write_at(0, b"not a segment");
    assert_eq!(Segment::peek(&&foreign), Peek::Foreign);
    assert_eq!(
        Segment::peek(&&LocalRegion::<256>::new()),
        Peek::Uninitialised
    );
}

#[test]
fn type_names_are_cut_to_the_header_field_and_read_back_safely() {
    assert!(TypeName::EMPTY.is_empty());
    assert_eq!(TypeName::new("robot::Pose").as_str(), "robot::Pose");
    let long = "x".repeat(TYPE_NAME_LEN + 5);
    let cut = TypeName::new(&long);
    assert_eq!(cut.as_str().len(), TYPE_NAME_LEN);
    assert!(cut.is_full());
    assert_eq!(cut.to_string(), format!("{}…", &long[..TYPE_NAME_LEN]));
    // A multi-byte character cut in half is left out, not shown as garbage.
    let name = format!("{}é", "y".repeat(TYPE_NAME_LEN - 1));
    assert_eq!(TypeName::new(&name).as_str(), &name[..TYPE_NAME_LEN - 1]);
    assert_eq!(TypeName::new("a\0b").as_str(), "a");
}
