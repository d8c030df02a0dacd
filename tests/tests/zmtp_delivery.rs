//! Delivery guarantees of a publisher's write buffer: `flush` hands every queued byte to
//! the kernel (or reports the peer that will not take them), and a publisher that goes
//! quiet after a burst still delivers the burst's tail without being called again.
#![forbid(unsafe_code)]

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ringwire::Error;
use ringwire::zmtp::{HwmPolicy, Pub, Sub};
use ringwire_tests::{transports, watchdog};

const T: Duration = Duration::from_secs(10);

/// A subscriber in its own thread that, once told to start, counts `n` messages and
/// checks they arrive in order (the first 4 bytes of each are its index).
fn counting_subscriber(
    ep: String,
    recv_hwm: usize,
    n: u32,
) -> (
    mpsc::Sender<()>,
    mpsc::Receiver<u32>,
    thread::JoinHandle<()>,
) {
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let (done_tx, done_rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let h = thread::spawn(move || {
        let mut sub = Sub::builder().recv_hwm(recv_hwm).connect(&ep).unwrap();
        sub.subscribe(b"").unwrap();
        ready_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        let mut got = 0u32;
        while got < n {
            match sub.recv_bytes_timeout(T) {
                Ok(m) => {
                    let i = u32::from_le_bytes(m[..4].try_into().unwrap());
                    assert_eq!(i, got, "messages arrive once and in order");
                    got += 1;
                }
                Err(Error::Timeout) => break,
                Err(e) => panic!("{e}"),
            }
        }
        done_tx.send(got).unwrap();
    });
    ready_rx.recv().unwrap();
    (go_tx, done_rx, h)
}

fn message(i: u32, size: usize) -> Vec<u8> {
    let mut m = vec![0xa5u8; size];
    m[..4].copy_from_slice(&i.to_le_bytes());
    m
}

#[test]
fn an_idle_publisher_still_delivers_the_tail_of_a_burst() {
    let _watchdog = watchdog(120);
    for ep in transports("tail") {
        let mut publisher = Pub::builder()
            .hwm_policy(HwmPolicy::Block)
            .send_hwm(1 << 20)
            .bind(&ep)
            .unwrap();
        let ep = publisher.bound_endpoints()[0].to_string();
        let n = 200_000;
        let (go, done, h) = counting_subscriber(ep, 1000, n);
        publisher.wait_for_subscribers(1, T).unwrap();
        go.send(()).unwrap();
        for i in 0..n {
            publisher.send_bytes(&message(i, 8)).unwrap();
        }
        // The owner now blocks elsewhere and never calls the publisher again: the
        // corked tail must still go out.
        assert_eq!(done.recv().unwrap(), n);
        h.join().unwrap();
    }
}

#[test]
fn flush_waits_until_the_kernel_took_everything() {
    let _watchdog = watchdog(120);
    for ep in transports("flush") {
        let mut publisher = Pub::builder()
            .send_hwm(1 << 20)
            .send_timeout(Duration::from_millis(300))
            .bind(&ep)
            .unwrap();
        let ep = publisher.bound_endpoints()[0].to_string();
        // 32 MiB: more than the kernel buffers of both ends hold.
        let (n, size) = (8192u32, 4096usize);
        // The subscriber stops reading after 10 messages until told to go.
        let (go, done, h) = counting_subscriber(ep, 10, n);
        publisher.wait_for_subscribers(1, T).unwrap();
        for i in 0..n {
            publisher.send_bytes(&message(i, size)).unwrap();
        }
        // Nobody reads: flush cannot hand everything over and says so.
        assert!(matches!(publisher.flush(), Err(Error::Timeout)));
        go.send(()).unwrap();
        // Now the peer reads: flush returns once everything is written (each call waits
        // at most the send timeout, so a slow machine may need several).
        let mut flushed = publisher.flush();
        for _ in 0..100 {
            if !matches!(flushed, Err(Error::Timeout)) {
                break;
            }
            flushed = publisher.flush();
        }
        flushed.unwrap();
        assert_eq!(publisher.stats().dropped_hwm, 0);
        assert_eq!(done.recv().unwrap(), n);
        h.join().unwrap();
    }
}
