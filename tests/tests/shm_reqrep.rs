//! REQ/REP between processes.
#![forbid(unsafe_code)]

mod shm_common;

use std::time::Duration;

use shm_common::{Peer, unique};

const WATCHDOG: Duration = Duration::from_secs(120);

fn round_trips(wait: &str) {
    let ep = format!("shm://{}", unique("rr-proc"));
    let mode = format!("wait={wait}");
    let mut rep = Peer::spawn(&["rep", &ep, &mode], WATCHDOG);
    assert_eq!(rep.line(), "bound");
    let mut req = Peer::spawn(&["req", &ep, "2000", &mode], WATCHDOG);
    assert_eq!(req.line(), "ready");
    let out = req.finish();
    assert_eq!(out.last().unwrap(), "requests 2000 retries 0");
    rep.kill();
    shm_common::unlink(&ep);
}

#[test]
fn requests_and_replies_between_processes_adaptive() {
    round_trips("adaptive");
}

#[test]
fn requests_and_replies_between_processes_blocking() {
    round_trips("block");
}

#[test]
fn requests_and_replies_between_processes_busy_polling() {
    round_trips("busy");
}

#[test]
fn requester_may_start_first_and_bind() {
    // The replier binds late: the requester's connect waits for the segment.
    let ep = format!("shm://{}", unique("rr-late"));
    let mut req = Peer::spawn(&["req", &ep, "100"], WATCHDOG);
    std::thread::sleep(Duration::from_millis(50));
    let mut rep = Peer::spawn(&["rep", &ep], WATCHDOG);
    assert_eq!(rep.line(), "bound");
    assert_eq!(req.line(), "ready");
    assert_eq!(req.finish().last().unwrap(), "requests 100 retries 0");
    rep.kill();
    shm_common::unlink(&ep);
}

#[test]
fn a_requester_past_the_client_limit_is_told_the_limit() {
    use ringwire::shm::{Replier, Requester};
    let ep = format!("shm://{}", unique("rr-second"));
    let _rep = Replier::builder().max_clients(1).bind(&ep).unwrap();
    let _first = Requester::connect(&ep).unwrap();
    let second = Requester::connect(&ep).unwrap_err();
    let text = second.to_string();
    assert!(text.contains("held by a live requester"), "{text}");
    assert!(text.contains("max_clients"), "{text}");
    assert!(!text.contains("only one process may bind"), "{text}");
}
