//! `ringwire broker` and `ringwire worker`: a request/reply router and a worker behind it
//! (`ringwire::broker`), running until SIGINT/SIGTERM, then printing their counters on stderr
//! and exiting 0 (a signal is how a service is meant to stop).
//!
//! Log records (workers registered, expired, lost; requests requeued, failed) go to stderr
//! at the level named by `RINGWIRE_LOG` (`error`, `warn` (default), `info`, `debug`, `off`).

use std::time::Duration;

use clap::{Args, ValueEnum};
use ringwire::broker::{Handlers, Liveness, NodeId, Router, Strategy, Worker, WorkerProtocol};
use ringwire_core::broker::mdp::Version;

use crate::Failure;
use crate::stop::{self, SLICE};

/// A routing strategy's name on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// Least recently ready (the guide's LRU queue).
    Lrr,
    /// The next worker after the last one chosen.
    RoundRobin,
    /// The fewest requests in flight.
    LeastLoaded,
}

/// A worker protocol's name on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// The guide's load-balancing worker (REQ socket, no heartbeats).
    Lb,
    /// Paranoid Pirate (spec 6).
    Ppp,
    /// Majordomo MDP/0.2 (spec 18), with --service.
    Mdp,
}

/// `ringwire broker`.
#[derive(Args)]
pub struct BrokerArgs {
    /// Endpoint clients connect to (tcp://, ipc://, inproc:// is useless across processes).
    #[arg(long, value_name = "EP")]
    frontend: String,
    /// Endpoint workers connect to.
    #[arg(long, value_name = "EP")]
    backend: String,
    /// Heartbeat interval to workers, and the silence that counts as one missed beat.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    heartbeat_ms: u64,
    /// Missed beats in a row that drop a worker.
    #[arg(long, default_value_t = 3, value_name = "K")]
    max_missed: u32,
    /// How a request's worker is chosen.
    #[arg(long, value_enum, default_value = "lrr")]
    strategy: StrategyArg,
}

/// `ringwire worker`.
#[derive(Args)]
pub struct WorkerArgs {
    /// The router's backend endpoint.
    #[arg(long, value_name = "EP")]
    connect: String,
    /// Reply with the request's payload (the default).
    #[arg(long, conflicts_with = "upper")]
    echo: bool,
    /// Reply with the payload in ASCII upper case.
    #[arg(long)]
    upper: bool,
    /// Serve this Majordomo service (implies --protocol mdp).
    #[arg(long, value_name = "NAME")]
    service: Option<String>,
    /// Heartbeat interval, and the silence that counts as one missed beat.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    heartbeat_ms: u64,
    /// Missed beats of the router in a row before reconnecting.
    #[arg(long, default_value_t = 3, value_name = "K")]
    max_missed: u32,
    /// Worker protocol (default ppp, or mdp with --service).
    #[arg(long, value_enum)]
    protocol: Option<ProtocolArg>,
    /// Keep the worker's id in this file (created on first run) and use it as the routing
    /// id, so the router knows the worker again after a restart.
    #[arg(long, value_name = "FILE")]
    node_id: Option<std::path::PathBuf>,
}

fn liveness(heartbeat_ms: u64, max_missed: u32) -> Result<Liveness, Failure> {
    if heartbeat_ms == 0 || max_missed == 0 {
        return Err(Failure::Usage(
            "--heartbeat-ms and --max-missed must be at least 1".into(),
        ));
    }
    Ok(Liveness {
        interval_ms: heartbeat_ms,
        timeout_ms: heartbeat_ms,
        max_missed,
    })
}

/// Runs the broker until a signal; prints its counters on stderr.
pub fn broker(args: &BrokerArgs) -> Result<(), Failure> {
    let strategy = match args.strategy {
        StrategyArg::Lrr => Strategy::LeastRecentlyReady,
        StrategyArg::RoundRobin => Strategy::RoundRobin,
        StrategyArg::LeastLoaded => Strategy::LeastLoaded,
    };
    let mut router = Router::builder(&args.frontend, &args.backend)
        .strategy(strategy)
        .heartbeat(liveness(args.heartbeat_ms, args.max_missed)?)
        .bind()?;
    let show = |eps: Vec<ringwire::Endpoint>| {
        eps.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    eprintln!(
        "ringwire broker: frontend {} backend {}",
        show(router.frontend_endpoints()),
        show(router.backend_endpoints())
    );
    while !stop::signalled() {
        router.poll(SLICE)?;
    }
    let s = router.stats();
    eprintln!(
        "requests {} replies {} retries {} failed {} refused {} workers_dropped {} \
         (expired {} lost {}) malformed {}",
        s.requests,
        s.replies,
        s.requeued,
        s.failed,
        s.refused,
        s.workers_expired + s.workers_lost,
        s.workers_expired,
        s.workers_lost,
        s.malformed
    );
    Ok(())
}

/// Runs a worker until a signal; prints what it did on stderr.
pub fn worker(args: &WorkerArgs) -> Result<(), Failure> {
    let protocol = match (args.protocol, &args.service) {
        (Some(ProtocolArg::Lb), _) => WorkerProtocol::LoadBalancing,
        (Some(ProtocolArg::Ppp), None) | (None, None) => WorkerProtocol::ParanoidPirate,
        (Some(ProtocolArg::Ppp), Some(_)) => {
            return Err(Failure::Usage(
                "--service needs the mdp protocol (drop --protocol ppp)".into(),
            ));
        }
        (Some(ProtocolArg::Mdp), _) | (None, Some(_)) => WorkerProtocol::Majordomo(Version::V0_2),
    };
    if matches!(protocol, WorkerProtocol::LoadBalancing) && args.service.is_some() {
        return Err(Failure::Usage(
            "--service needs the mdp protocol (drop --protocol lb)".into(),
        ));
    }
    // Check the endpoint now: a bad one is a usage error, not a thread's failure.
    let _: ringwire::Endpoint = args
        .connect
        .parse()
        .map_err(|e: ringwire::endpoint::EndpointError| Failure::Usage(e.to_string()))?;
    let mut b = Worker::builder(&args.connect)
        .protocol(protocol)
        .heartbeat(liveness(args.heartbeat_ms, args.max_missed)?);
    if let Some(s) = &args.service {
        b = b.service(s);
    }
    if let Some(path) = &args.node_id {
        let id = NodeId::load_or_create(path)?;
        eprintln!("ringwire worker: node id {id}");
        b = b.identity(&id);
    }
    let upper = args.upper;
    let handlers = Handlers::new().any(move |p| {
        if upper {
            p.to_ascii_uppercase()
        } else {
            p.to_vec()
        }
    });
    let w = b.spawn(handlers)?;
    while !stop::signalled() {
        std::thread::sleep(SLICE.min(Duration::from_millis(50)));
    }
    let s = w.stop()?;
    eprintln!(
        "handled {} reconnects {} heartbeats_sent {} malformed {}",
        s.handled, s.reconnects, s.heartbeats_sent, s.malformed
    );
    Ok(())
}
