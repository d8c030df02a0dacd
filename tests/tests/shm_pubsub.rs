//! PUB/SUB over shared memory: in-process basics, then across processes.
#![forbid(unsafe_code)]

mod shm_common;

use std::time::Duration;

use ringwire::Error;
use ringwire::shm::{Publisher, Subscriber};
use serde::{Deserialize, Serialize};
use shm_common::unique;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Pose {
    x: f32,
    y: f32,
    seq: u32,
}

#[test]
fn typed_topics_and_prefix_filters() {
    let ep = format!("shm://{}", unique("ps-basic"));
    let mut publisher = Publisher::bind(&ep).unwrap();
    let mut all = Subscriber::connect(&ep).unwrap();
    all.subscribe(b"");
    let mut poses = Subscriber::connect(&ep).unwrap();
    poses.subscribe(b"pose");
    let mut none = Subscriber::connect(&ep).unwrap();

    publisher
        .send_on(
            "pose/left",
            &Pose {
                x: 1.0,
                y: 2.0,
                seq: 1,
            },
        )
        .unwrap();
    publisher.send_on("imu", &7u32).unwrap();
    publisher.send_multipart(&[b"pose/right", b"raw"]).unwrap();

    assert_eq!(all.try_recv::<Pose>().unwrap().seq, 1);
    assert_eq!(all.try_recv::<u32>().unwrap(), 7);
    let m = all.try_recv_multipart().unwrap();
    assert_eq!(m.frames(), &[b"pose/right".to_vec(), b"raw".to_vec()]);
    assert!(matches!(all.try_recv::<u32>(), Err(Error::WouldBlock)));

    assert_eq!(poses.try_recv::<Pose>().unwrap().seq, 1);
    assert_eq!(poses.try_recv_bytes().unwrap(), b"raw");
    assert!(matches!(poses.try_recv_bytes(), Err(Error::WouldBlock)));

    assert!(matches!(none.try_recv_bytes(), Err(Error::WouldBlock)));
    assert!(matches!(
        none.recv_bytes_timeout(Duration::from_millis(5)),
        Err(Error::Timeout)
    ));
}
