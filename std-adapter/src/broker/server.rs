//! [`Server`]: the client-server mode. Clients connect straight to it and its handlers
//! answer, with no router process: it is a [`Router`] whose backend is a private
//! `inproc://` endpoint (`shm://NAME@server` when the server's is `shm://NAME`), and a few in-process load-balancing [`Worker`]s sharing one
//! [`Handlers`]. So a server queues, requeues and reports exactly as a router does, and
//! its requests run on several threads at once.

use std::sync::atomic::{AtomicU32, Ordering};

use ringwire_core::broker::{Stats, WorkerProtocol};

use super::{Handlers, Router, Worker};
use crate::endpoint::Endpoint;
use crate::error::Result;
use crate::shm::ShmOptions;

/// How to make a [`Server`].
#[derive(Debug, Clone)]
pub struct ServerBuilder {
    endpoint: String,
    threads: usize,
    shm: Option<ShmOptions>,
}

impl ServerBuilder {
    /// Handler threads (default 2): requests run on at most this many at once.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n.max(1);
        self
    }

    /// Options of an `shm://` endpoint (default: as [`Router`]'s, room for 64 clients).
    pub fn shm_options(mut self, options: ShmOptions) -> Self {
        self.shm = Some(options);
        self
    }

    /// Binds the endpoint and starts the handler threads.
    pub fn spawn(self, handlers: Handlers) -> Result<Server> {
        static N: AtomicU32 = AtomicU32::new(0);
        // Over shm the handler threads sit behind an shm backend named after the endpoint
        // (`shm://NAME@server`; a server restarted after a crash reclaims both): a router
        // waiting on shm and inproc at once would poll in slices, not sleep on both.
        let backend = if self.endpoint.starts_with("shm://") {
            format!("{}@server", self.endpoint)
        } else {
            format!(
                "inproc://ringwire-server-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            )
        };
        let mut router = Router::builder(&self.endpoint, &backend);
        if let Some(options) = self.shm {
            router = router.shm_options(options);
        }
        let router = router.spawn()?;
        let workers = (0..self.threads)
            .map(|_| {
                Worker::builder(&backend)
                    .protocol(WorkerProtocol::LoadBalancing)
                    .spawn(handlers.clone())
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Server { workers, router })
    }
}

/// A server: clients ([`Client`](super::Client), REQ or DEALER sockets) connect to it and
/// its [`Handlers`] answer.
#[derive(Debug)]
pub struct Server {
    // Dropped first: the workers leave before the router stops.
    workers: Vec<Worker>,
    router: Router,
}

impl Server {
    /// A server at `endpoint` running `handlers` on 2 threads.
    pub fn bind(endpoint: &str, handlers: Handlers) -> Result<Server> {
        Server::builder(endpoint).spawn(handlers)
    }

    /// Settings before binding.
    pub fn builder(endpoint: &str) -> ServerBuilder {
        ServerBuilder {
            endpoint: endpoint.to_string(),
            threads: 2,
            shm: None,
        }
    }

    /// The bound endpoints (a `tcp://...:0` resolved to its port).
    pub fn endpoints(&self) -> &[Endpoint] {
        self.router.frontend_endpoints()
    }

    /// The counters of its router.
    pub fn stats(&self) -> Stats {
        self.router.stats()
    }

    /// Stops the handler threads and the router; returns the final counters.
    pub fn stop(self) -> Result<Stats> {
        for w in self.workers {
            w.stop()?;
        }
        self.router.stop()
    }
}
