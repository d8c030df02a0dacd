//! `iceoryx2` (feature `iceoryx2`): iceoryx2 0.10's publish-subscribe over two services, `ping`
//! (leader to peer) and `pong` (peer to leader), with `[u8]` slice payloads.
//!
//! Sending loans a sample of the message size from the publisher's data segment, copies the
//! message into it (`write_from_slice`: the one copy) and sends it; receiving takes the sample
//! and reads the sequence number in place (zero-copy: the payload is not copied out).
//!
//! Two modes:
//! - `busy`: the receiver polls `Subscriber::receive` in a spin loop.
//! - `event`: each direction also has an event service; the sender notifies after sending, the
//!   receiver blocks in `Listener::blocking_wait` whenever `receive` finds nothing — iceoryx2's
//!   documented way to wait for samples without spinning.
//!
//! Throughput runs create `ping` without safe overflow and with a publisher that retries until
//! delivered, so that the sender is held back by a full subscriber buffer instead of
//! overwriting samples (a dropped message would fail the run).

use std::hint::spin_loop;
use std::time::{Duration, Instant};

use iceoryx2::node::Node;
use iceoryx2::port::listener::Listener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;

use ringwire::bench::link::{
    BenchError, Kind, Link, PROBE, Params, Prepared, Ready, Result, Transport, fail,
    message_buffer, read_seq, stamp, unique_name,
};

/// Subscriber buffer (samples) of the throughput runs' `ping` service.
const THROUGHPUT_BUFFER: usize = 1024;

/// Busy-polling or event-driven receiving.
pub struct Iceoryx2 {
    event: bool,
}

/// Receivers spin on `receive`.
pub const BUSY: Iceoryx2 = Iceoryx2 { event: false };
/// Receivers block on a listener; senders notify.
pub const EVENT: Iceoryx2 = Iceoryx2 { event: true };

type Ipc = ipc::Service;

/// One process's ports.
struct IceLink {
    publisher: Publisher<Ipc, [u8], ()>,
    subscriber: Subscriber<Ipc, [u8], ()>,
    notifier: Option<Notifier<Ipc>>,
    listener: Option<Listener<Ipc>>,
    tx: Vec<u8>,
    // Dropped last: the ports above belong to this node.
    _node: Node<Ipc>,
}

fn name(s: &str) -> Result<ServiceName> {
    ServiceName::new(s).map_err(|e| fail("service name", format!("{e:?}")))
}

impl IceLink {
    /// Creates this side's ports. `base` names the service pair; `leader` picks the direction.
    fn open(base: &str, params: Params, event: bool, leader: bool) -> Result<IceLink> {
        set_log_level(LogLevel::Error);
        let node = NodeBuilder::new()
            .create::<Ipc>()
            .map_err(|e| fail("iceoryx2 node", format!("{e:?}")))?;
        let (out, inp) = if leader {
            ("ping", "pong")
        } else {
            ("pong", "ping")
        };
        let throughput = params.kind == Kind::Throughput;
        let pubsub = |dir: &str| -> Result<_> {
            let mut builder = node
                .service_builder(&name(&format!("{base}/{dir}"))?)
                .publish_subscribe::<[u8]>();
            if throughput && dir == "ping" {
                builder = builder
                    .enable_safe_overflow(false)
                    .subscriber_max_buffer_size(THROUGHPUT_BUFFER);
            }
            builder
                .open_or_create()
                .map_err(|e| fail("iceoryx2 publish_subscribe service", format!("{e:?}")))
        };
        let out_service = pubsub(out)?;
        let in_service = pubsub(inp)?;
        let mut pub_builder = out_service
            .publisher_builder()
            .initial_max_slice_len(params.size.max(8));
        if throughput {
            pub_builder =
                pub_builder.backpressure_strategy(BackpressureStrategy::RetryUntilDelivered);
        }
        let publisher = pub_builder
            .create()
            .map_err(|e| fail("iceoryx2 publisher", format!("{e:?}")))?;
        let mut sub_builder = in_service.subscriber_builder();
        if throughput && inp == "ping" {
            sub_builder = sub_builder.buffer_size(THROUGHPUT_BUFFER);
        }
        let subscriber = sub_builder
            .create()
            .map_err(|e| fail("iceoryx2 subscriber", format!("{e:?}")))?;
        let (notifier, listener) = if event {
            let ev = |dir: &str| -> Result<_> {
                node.service_builder(&name(&format!("{base}/{dir}-event"))?)
                    .event()
                    .open_or_create()
                    .map_err(|e| fail("iceoryx2 event service", format!("{e:?}")))
            };
            let notifier = ev(out)?
                .notifier_builder()
                .create()
                .map_err(|e| fail("iceoryx2 notifier", format!("{e:?}")))?;
            let listener = ev(inp)?
                .listener_builder()
                .create()
                .map_err(|e| fail("iceoryx2 listener", format!("{e:?}")))?;
            (Some(notifier), Some(listener))
        } else {
            (None, None)
        };
        Ok(IceLink {
            publisher,
            subscriber,
            notifier,
            listener,
            tx: message_buffer(params.size),
            _node: node,
        })
    }

    fn try_recv(&mut self) -> Result<Option<u64>> {
        match self.subscriber.receive() {
            Ok(Some(sample)) => read_seq(sample.payload()).map(Some),
            Ok(None) => Ok(None),
            Err(e) => Err(fail("iceoryx2 receive", format!("{e:?}"))),
        }
    }
}

impl Link for IceLink {
    fn send(&mut self, seq: u64) -> Result<()> {
        stamp(&mut self.tx, seq);
        let sample = self
            .publisher
            .loan_slice_uninit(self.tx.len())
            .map_err(|e| fail("iceoryx2 loan", format!("{e:?}")))?;
        sample
            .write_from_slice(&self.tx)
            .send()
            .map_err(|e| fail("iceoryx2 send", format!("{e:?}")))?;
        if let Some(notifier) = &self.notifier {
            notifier
                .notify()
                .map_err(|e| fail("iceoryx2 notify", format!("{e:?}")))?;
        }
        Ok(())
    }

    fn recv(&mut self) -> Result<u64> {
        loop {
            if let Some(seq) = self.try_recv()? {
                return Ok(seq);
            }
            match &self.listener {
                Some(listener) => {
                    listener
                        .blocking_wait(|_| {})
                        .map_err(|e| fail("iceoryx2 wait", format!("{e:?}")))?;
                }
                None => spin_loop(),
            }
        }
    }

    /// Ports connect lazily: probe every 10 ms until the peer's echo arrives.
    fn handshake(&mut self) -> Result<()> {
        let deadline = Instant::now() + ringwire::bench::link::CONNECT_TIMEOUT;
        while Instant::now() < deadline {
            self.send(PROBE)?;
            let retry = Instant::now() + Duration::from_millis(10);
            while Instant::now() < retry {
                if self.try_recv()? == Some(PROBE) {
                    return Ok(());
                }
                std::thread::yield_now();
            }
        }
        Err(BenchError("iceoryx2: the peer never answered".into()))
    }
}

impl Transport for Iceoryx2 {
    fn id(&self) -> &'static str {
        if self.event {
            "iceoryx2-event"
        } else {
            "iceoryx2-busy"
        }
    }

    fn group(&self) -> &'static str {
        "iceoryx2"
    }

    fn label(&self) -> &'static str {
        if self.event {
            "pub/sub, listener wait"
        } else {
            "pub/sub, busy poll"
        }
    }

    fn rtt_sizes(&self) -> &'static [usize] {
        &[8, 65536]
    }

    fn throughput(&self) -> bool {
        true
    }

    fn prepare(&self, params: Params) -> Result<Box<dyn Prepared>> {
        let base = format!("ringwire-bench/{}", unique_name("ice"));
        let link = IceLink::open(&base, params, self.event, true)?;
        Ok(Box::new(Ready {
            link,
            address: base,
        }))
    }

    fn connect(&self, address: &str, params: Params) -> Result<Box<dyn Link>> {
        Ok(Box::new(IceLink::open(address, params, self.event, false)?))
    }
}
