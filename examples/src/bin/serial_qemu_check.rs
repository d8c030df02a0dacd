//! End-to-end check of the serial link: boots the firmware example in QEMU (`mps2-an386`),
//! connects a `ringwire::serial::Bridge` to its UART over TCP, and checks messages both ways,
//! also through injected line noise. Exits non-zero on the first failed check.
//!
//! Usage: `serial-qemu-check FIRMWARE_ELF` (CI: `.ci/steps/40-firmware-qemu.sh`).
//!
//! QEMU connects its UART as a TCP *client* to a listener this program opened first, so no
//! port is guessed. A watchdog kills QEMU if the run hangs. Line noise is injected on both
//! directions: into the bytes the bridge reads (garbage between and inside frames), and as
//! raw garbage and half frames written to the firmware, which reports its own decoder
//! counters in every `Counter` message.
#![forbid(unsafe_code)]

#[path = "../../firmware/src/proto.rs"]
mod proto;

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use proto::*;
use ringwire::serial::{Bridge, Frame, FrameKind};
use ringwire_core::serial::{Encoder, max_wire_len};

/// Give up on any one wait after this long (QEMU boots in well under a second).
const WAIT: Duration = Duration::from_secs(30);

type Result<T> = std::result::Result<T, String>;

/// The TCP stream to QEMU, with optional line noise mixed into what is read.
struct NoisyLine {
    inner: TcpStream,
    pending: VecDeque<u8>,
    noise: bool,
    rng: u32,
    injected: u64,
}

impl NoisyLine {
    fn next_rand(&mut self) -> u32 {
        // xorshift32: deterministic noise, so a failure can be replayed.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        self.rng
    }
}

impl Read for NoisyLine {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() {
            let mut tmp = [0u8; 512];
            let n = self.inner.read(&mut tmp)?;
            if n == 0 {
                return Ok(0);
            }
            for &b in &tmp[..n] {
                if self.noise && self.next_rand().is_multiple_of(61) {
                    // 1..=3 garbage bytes, now and then a stray delimiter among them.
                    for _ in 0..=(self.next_rand() % 3) {
                        let r = self.next_rand();
                        let g = if r.is_multiple_of(9) {
                            0
                        } else {
                            (r >> 8) as u8
                        };
                        self.pending.push_back(g);
                        self.injected += 1;
                    }
                }
                self.pending.push_back(b);
            }
        }
        let n = buf.len().min(self.pending.len());
        for (slot, b) in buf.iter_mut().zip(self.pending.drain(..n)) {
            *slot = b;
        }
        Ok(n)
    }
}

impl Write for NoisyLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What one frame from the firmware said.
#[derive(Debug, Clone)]
enum Msg {
    Counter(Counter),
    Imu(Imu),
    Ack(u16, Ack),
    /// Any other frame, described.
    Other(String),
}

fn to_msg(f: &Frame<'_>) -> Result<Msg> {
    let bad = |e| format!("undecodable payload on topic {}: {e}", f.header.topic);
    Ok(match (f.header.kind, f.header.topic) {
        (FrameKind::Publish, TOPIC_COUNTER) => Msg::Counter(f.decode().map_err(bad)?),
        (FrameKind::Publish, TOPIC_IMU) => Msg::Imu(f.decode().map_err(bad)?),
        (FrameKind::Ack, topic) => Msg::Ack(topic, f.decode().map_err(bad)?),
        (kind, topic) => Msg::Other(format!("{kind:?} on topic {topic}")),
    })
}

struct Check {
    bridge: Bridge<NoisyLine>,
    qemu: Child,
    passed: u32,
}

impl Check {
    /// Polls the bridge until `want` picks something out of a message, or `WAIT` passes.
    fn wait_for<T>(&mut self, what: &str, mut want: impl FnMut(&Msg) -> Option<T>) -> Result<T> {
        let deadline = Instant::now() + WAIT;
        let mut found = None;
        while found.is_none() {
            if Instant::now() > deadline {
                return Err(format!("timed out waiting for {what}"));
            }
            let mut err = None;
            self.bridge
                .poll(&mut |f: &Frame<'_>| {
                    match to_msg(f) {
                        Ok(m) => {
                            if found.is_none() {
                                found = want(&m);
                            }
                        }
                        Err(e) => err = Some(e),
                    }
                    Ok(())
                })
                .map_err(|e| format!("bridge failed while waiting for {what}: {e}"))?;
            if let Some(e) = err {
                return Err(e);
            }
        }
        found.ok_or_else(|| format!("no {what}"))
    }

    fn ok(&mut self, what: &str) {
        self.passed += 1;
        println!("ok {} - {what}", self.passed);
    }

    fn command<T: serde::Serialize>(&mut self, topic: u16, value: &T) -> Result<Ack> {
        let seq = self
            .bridge
            .command(topic, value)
            .map_err(|e| format!("cannot send command {topic:#x}: {e}"))?;
        self.wait_for(
            &format!("ack of command {topic:#x} seq {seq}"),
            |m| match m {
                Msg::Ack(t, a) if *t == topic && a.cmd_seq == seq => Some(*a),
                _ => None,
            },
        )
    }

    fn counter(&mut self, what: &str, pred: impl Fn(&Counter) -> bool) -> Result<Counter> {
        self.wait_for(what, |m| match m {
            Msg::Counter(c) if pred(c) => Some(*c),
            _ => None,
        })
    }
}

fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if cond { Ok(()) } else { Err(msg()) }
}

fn run(check: &mut Check) -> Result<()> {
    // 1. Telemetry flows: counters increase by one, IMU readings are sane.
    let mut last = None;
    let mut imus = 0;
    while imus < 10 {
        match check.wait_for("telemetry", |m| Some(m.clone()))? {
            Msg::Counter(c) => {
                if let Some(prev) = last {
                    ensure(c.count == prev + 1, || {
                        format!("counter jumped from {prev} to {}", c.count)
                    })?;
                }
                // Each cycle publishes two messages through the firmware's broadcast ring.
                ensure(c.ring_published == 2 * (c.count - 1), || {
                    format!("ring head {} at count {}", c.ring_published, c.count)
                })?;
                last = Some(c.count);
            }
            Msg::Imu(imu) => {
                ensure((imu.accel[2] - 9.81).abs() < 1e-3, || {
                    format!("bad IMU {imu:?}")
                })?;
                imus += 1;
            }
            Msg::Other(what) => return Err(format!("unexpected frame: {what}")),
            Msg::Ack(topic, ack) => return Err(format!("unexpected ack on {topic}: {ack:?}")),
        }
    }
    let s = check.bridge.stats();
    ensure(s.resyncs() == 0 && s.lost() == 0, || {
        format!("clean link had errors: {s:?}")
    })?;
    check.ok("20 clean telemetry frames via the firmware ring, counter +1 each, IMU az = 9.81");

    // 2. Commands, acknowledged.
    let ack = check.command(CMD_PING, &Ping { token: 0xC0FFEE })?;
    ensure(ack.status == STATUS_OK && ack.value == 0xC0FFEE, || {
        format!("ping ack {ack:?}")
    })?;
    check.ok("ping echoes its token");
    let ack = check.command(CMD_SET_RATE, &SetRate { hz: 50 })?;
    ensure(ack.status == STATUS_OK && ack.value == 50, || {
        format!("rate ack {ack:?}")
    })?;
    check.counter("counter at 50 Hz", |c| c.rate_hz == 50)?;
    check.ok("set rate 50 Hz is acked and reported");
    let ack = check.command(CMD_SET_RATE, &SetRate { hz: 0 })?;
    ensure(ack.status == STATUS_OUT_OF_RANGE, || {
        format!("rate 0 ack {ack:?}")
    })?;
    check.ok("set rate 0 Hz is refused");
    let ack = check.command(CMD_SET_LED, &SetLed { on: true })?;
    ensure(ack.status == STATUS_OK && ack.value == 1, || {
        format!("led ack {ack:?}")
    })?;
    check.counter("counter with LED on", |c| c.led)?;
    check.ok("set LED is acked and reported");
    let ack = check.command(0x7F, &())?;
    ensure(ack.status == STATUS_UNKNOWN, || {
        format!("unknown command ack {ack:?}")
    })?;
    check.ok("unknown command gets STATUS_UNKNOWN");

    // 3. Noise on the firmware → host direction.
    let before = check.bridge.stats();
    check.bridge.get_mut().noise = true;
    let mut frames_in_noise = 0;
    while check.bridge.get_ref().injected < 200 {
        check.wait_for("telemetry under noise", |_| Some(()))?;
        frames_in_noise += 1;
    }
    check.bridge.get_mut().noise = false;
    let noisy = check.bridge.stats();
    ensure(noisy.resyncs() > before.resyncs(), || {
        "noise caused no resync".into()
    })?;
    ensure(noisy.crc_errors() + noisy.rx.bad_encoding > 0, || {
        format!("noise caused no CRC/COBS error: {noisy:?}")
    })?;
    ensure(noisy.lost() > 0, || {
        "no frame counted lost under noise".into()
    })?;
    // Frames after the noise are intact: two consecutive counters increment by one.
    let c1 = check.counter("counter after noise", |_| true)?;
    let c2 = check.counter("next counter after noise", |_| true)?;
    ensure(c2.count == c1.count + 1, || {
        format!("counters {} then {}", c1.count, c2.count)
    })?;
    let ack = check.command(CMD_PING, &Ping { token: 7 })?;
    ensure(ack.value == 7, || format!("ping after noise {ack:?}"))?;
    println!(
        "   fw->host noise: {} garbage bytes injected, {} frames got through, {} crc errors, \
         {} bad encodings, {} resyncs, {} frames lost",
        check.bridge.get_ref().injected,
        frames_in_noise,
        noisy.crc_errors() - before.crc_errors(),
        noisy.rx.bad_encoding - before.rx.bad_encoding,
        noisy.resyncs() - before.resyncs(),
        noisy.lost() - before.lost()
    );
    check.ok("bridge counts CRC failures/resyncs/losses under noise and recovers");

    // 4. Noise on the host → firmware direction: garbage, a half frame, a frame with a
    // flipped bit, then a good command, which must still be acked.
    let before = check.counter("counter before host noise", |_| true)?;
    check
        .bridge
        .write_raw(&[0x5A, 0xA5, 0x13, 0x37, 0x42])
        .map_err(|e| e.to_string())?;
    let mut enc = Encoder::<64>::new();
    let mut w = [0u8; max_wire_len(64)];
    let n = enc
        .encode_msg(FrameKind::Command, CMD_PING, &Ping { token: 1 }, &mut w)
        .map_err(|e| e.to_string())?;
    check
        .bridge
        .write_raw(&w[..n / 2])
        .map_err(|e| e.to_string())?; // cut off mid-frame
    check.bridge.write_raw(&[0x00]).map_err(|e| e.to_string())?;
    let n = enc
        .encode_msg(FrameKind::Command, CMD_PING, &Ping { token: 2 }, &mut w)
        .map_err(|e| e.to_string())?;
    let at = n - 3;
    w[at] ^= 0x40; // a flipped bit near the end (in the CRC)
    if w[at] == 0 {
        w[at] = 0x40;
    }
    check.bridge.write_raw(&w[..n]).map_err(|e| e.to_string())?;
    let ack = check.command(CMD_PING, &Ping { token: 3 })?;
    ensure(ack.value == 3, || format!("ping after host noise {ack:?}"))?;
    let after = check.counter("counter after host noise", |c| {
        c.rx_errors > before.rx_errors
    })?;
    ensure(after.rx_errors >= before.rx_errors + 2, || {
        format!(
            "firmware counted {} -> {} errors",
            before.rx_errors, after.rx_errors
        )
    })?;
    println!(
        "   host->fw noise: firmware counted {} dropped frames ({} CRC), {} lost by seq",
        after.rx_errors - before.rx_errors,
        after.rx_crc_errors - before.rx_crc_errors,
        after.rx_lost
    );
    check.ok("firmware drops damaged commands, counts them, and acks the next good one");

    // 5. Shutdown ends QEMU with success.
    let ack = check.command(CMD_SHUTDOWN, &Shutdown { code: 0 })?;
    ensure(ack.status == STATUS_OK, || format!("shutdown ack {ack:?}"))?;
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = check.qemu.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            return Err("QEMU did not exit after shutdown".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    ensure(status.success(), || format!("QEMU exited with {status}"))?;
    check.ok("shutdown command ends QEMU with exit status 0");
    Ok(())
}

fn main() {
    let _log = ringwire_examples::setup_logging();
    let Some(elf) = std::env::args().nth(1) else {
        eprintln!("usage: serial-qemu-check FIRMWARE_ELF");
        std::process::exit(2);
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    let qemu = Command::new("qemu-system-arm")
        .args(["-machine", "mps2-an386", "-cpu", "cortex-m4"])
        .args(["-display", "none", "-monitor", "none"])
        .args(["-semihosting-config", "enable=on,target=native"])
        .arg("-serial")
        .arg(format!("tcp:127.0.0.1:{port}"))
        .arg("-kernel")
        .arg(&elf)
        .stdin(Stdio::null())
        .spawn()
        .expect("start qemu-system-arm");
    let qemu_pid = qemu.id();
    // Watchdog: whatever happens, QEMU does not outlive a hung check by more than 5 minutes.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(300));
        eprintln!("watchdog: check hung, killing QEMU {qemu_pid}");
        let _ = Command::new("kill").arg(qemu_pid.to_string()).status();
        std::process::exit(3);
    });
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let deadline = Instant::now() + WAIT;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("QEMU never connected its UART: {e}"),
        }
    };
    stream.set_nonblocking(false).expect("blocking stream");
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    let line = NoisyLine {
        inner: stream,
        pending: VecDeque::new(),
        noise: false,
        rng: 0x2545_F491,
        injected: 0,
    };
    let mut check = Check {
        bridge: Bridge::new(line),
        qemu,
        passed: 0,
    };
    let result = run(&mut check);
    let stats = check.bridge.stats();
    println!(
        "bridge stats: {} frames in, {} out, {} bytes in, {} crc errors, {} resyncs, {} lost",
        stats.frames_in(),
        stats.frames_out,
        stats.bytes_in,
        stats.crc_errors(),
        stats.resyncs(),
        stats.lost()
    );
    match result {
        Ok(()) => println!("{} passed, 0 failed", check.passed),
        Err(e) => {
            println!("not ok {} - {e}", check.passed + 1);
            println!("{} passed, 1 failed", check.passed);
            let _ = check.qemu.kill();
            let _ = check.qemu.wait();
            std::process::exit(1);
        }
    }
}
