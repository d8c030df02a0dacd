//! In-process send + receive round trips on each ring, 8 B and 1 KiB messages, copy and
//! zero-copy (loan + borrow). One thread: this measures the per-message cost of the ring
//! protocol and the copies, not cross-core cache traffic.
#![forbid(unsafe_code)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ringwire_core::region::LocalRegion;
use ringwire_core::ring::broadcast::{Broadcast, Start};
use ringwire_core::ring::mpmc::Mpmc;
use ringwire_core::ring::spsc::Spsc;
use ringwire_core::segment::{Creator, RingConfig};

type Region = LocalRegion<{ 256 + 64 * (1024 + 64) }>;
const SIZES: [usize; 2] = [8, 1024];

fn cfg() -> RingConfig {
    RingConfig::new(1024, 64, "bench::Msg")
}

fn bench_broadcast(c: &mut Criterion) {
    let mut group = c.benchmark_group("broadcast");
    let region = Box::new(Region::new());
    let ring = Broadcast::create(&*region, cfg(), Creator::default()).unwrap();
    let mut writer = ring.writer(1).unwrap();
    let mut reader = ring.reader(Start::Next);
    let mut buf = vec![0u8; 1024];
    for size in SIZES {
        let msg = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("copy/{size}"), |b| {
            b.iter(|| {
                let _ = writer.try_send(black_box(&msg)).unwrap();
                black_box(reader.try_recv(&mut buf).unwrap());
            })
        });
        group.bench_function(format!("loan/{size}"), |b| {
            b.iter(|| {
                let mut loan = writer.loan();
                loan.write_at(0, black_box(&msg));
                let _ = loan.commit(size).unwrap();
                let borrowed = reader.try_borrow().unwrap();
                black_box(borrowed.byte(size - 1));
                borrowed.finish().unwrap();
            })
        });
    }
    group.finish();
}

fn bench_spsc(c: &mut Criterion) {
    let mut group = c.benchmark_group("spsc");
    let region = Box::new(Region::new());
    let ring = Spsc::create(&*region, cfg(), Creator::default()).unwrap();
    let mut tx = ring.producer(1).unwrap();
    let mut rx = ring.consumer(2).unwrap();
    let mut buf = vec![0u8; 1024];
    for size in SIZES {
        let msg = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("copy/{size}"), |b| {
            b.iter(|| {
                let _ = tx.try_send(black_box(&msg)).unwrap();
                black_box(rx.try_recv(&mut buf).unwrap());
            })
        });
        group.bench_function(format!("loan/{size}"), |b| {
            b.iter(|| {
                let mut loan = tx.loan().unwrap();
                loan[..size].fill(0x5a);
                let _ = loan.commit(size).unwrap();
                let borrowed = rx.try_borrow().unwrap();
                black_box(borrowed[size - 1]);
            })
        });
    }
    group.finish();
}

fn bench_mpmc(c: &mut Criterion) {
    let mut group = c.benchmark_group("mpmc");
    let region = Box::new(Region::new());
    let ring = Mpmc::create(&*region, cfg(), Creator::default()).unwrap();
    let tx = ring.producer(1).unwrap();
    let rx = ring.consumer(2).unwrap();
    let mut buf = vec![0u8; 1024];
    for size in SIZES {
        let msg = vec![0x5au8; size];
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(format!("copy/{size}"), |b| {
            b.iter(|| {
                let _ = tx.try_send(black_box(&msg)).unwrap();
                black_box(rx.try_recv(&mut buf).unwrap());
            })
        });
        group.bench_function(format!("loan/{size}"), |b| {
            b.iter(|| {
                let mut loan = tx.loan().unwrap();
                loan[..size].fill(0x5a);
                let _ = loan.commit(size).unwrap();
                let borrowed = rx.try_borrow().unwrap();
                black_box(borrowed[size - 1]);
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = bench_broadcast, bench_spsc, bench_mpmc
}
criterion_main!(benches);
