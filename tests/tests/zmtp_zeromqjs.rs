//! Interop with real libzmq through zeromq.js: every socket type against its zeromq.js peer,
//! both directions (ringwire binds / zeromq.js binds), over tcp and ipc, with binary
//! payloads of 0, 1, 255, 256 bytes and 1 MiB. zeromq.js is installed under `target/` on
//! first use by `ringwire_tests::interop`.
#![forbid(unsafe_code)]

use ringwire_tests::interop::Peer;
use ringwire_tests::matrix::{Case, run};
use ringwire_tests::watchdog;

#[test]
fn pub_to_sub() {
    let _watchdog = watchdog(240);
    run(Peer::Node, Case::PubToSub);
}

#[test]
fn sub_from_pub() {
    let _watchdog = watchdog(240);
    run(Peer::Node, Case::SubFromPub);
}

#[test]
fn req_to_rep() {
    let _watchdog = watchdog(240);
    run(Peer::Node, Case::ReqToRep);
}

#[test]
fn rep_from_req() {
    let _watchdog = watchdog(240);
    run(Peer::Node, Case::RepFromReq);
}

#[test]
fn dealer_to_router() {
    let _watchdog = watchdog(240);
    run(Peer::Node, Case::DealerToRouter);
}

#[test]
fn router_from_dealer() {
    let _watchdog = watchdog(240);
    run(Peer::Node, Case::RouterFromDealer);
}

#[test]
fn push_to_pull() {
    let _watchdog = watchdog(240);
    run(Peer::Node, Case::PushToPull);
}

#[test]
fn pull_from_push() {
    let _watchdog = watchdog(240);
    run(Peer::Node, Case::PullFromPush);
}

#[test]
fn pair() {
    let _watchdog = watchdog(240);
    run(Peer::Node, Case::Pair);
}
