//! Zero-copy images over shared memory: a camera publishes 640×480 grey frames, each written
//! straight into the ring's slot (`Publisher::loan_with`), and a viewer reads each frame's
//! header and a 16×16 region of interest where the frame lies (`Subscriber::recv_in_place`),
//! never copying the other 300 KiB (seed shm-comm: large arrays between processes).
//!
//! ```text
//! cargo run -p ringwire-examples --bin camera                       # both roles
//! cargo run -p ringwire-examples --bin camera -- camera shm://cam &
//! cargo run -p ringwire-examples --bin camera -- viewer shm://cam
//! ```
#![forbid(unsafe_code)]

use std::time::Duration;

use ringwire::Error;
use ringwire::shm::{InPlace, Publisher, Subscriber};
use ringwire_examples::{spawn_role, unique_name, wait_all};

const WIDTH: usize = 640;
const HEIGHT: usize = 480;
/// Frame number (u32), width and height (u16 each), then the pixels, row by row.
const HEADER: usize = 8;
const FRAME: usize = HEADER + WIDTH * HEIGHT;
const FRAMES: u32 = 20;
const ROI: usize = 16;

/// The test pattern: a diagonal gradient that moves one step per frame.
fn pixel(frame: u32, x: usize, y: usize) -> u8 {
    ((x + y) as u32).wrapping_add(frame) as u8
}

fn camera(endpoint: &str) -> ringwire::Result<()> {
    let mut camera = Publisher::builder()
        .slot_size(FRAME + 64)
        .slot_count(8)
        .bind(endpoint)?;
    // Publish until the viewer is done (it exits and the demo stops us).
    for frame in 0..FRAMES * 50 {
        // Subscribers may still be copying the slot's previous frame, so the slot is written
        // through `SlotWriter` (relaxed atomic word stores), one row at a time.
        camera.loan_with(|slot| {
            if slot.len() < FRAME {
                return None;
            }
            let mut header = [0u8; HEADER];
            header[..4].copy_from_slice(&frame.to_le_bytes());
            header[4..6].copy_from_slice(&(WIDTH as u16).to_le_bytes());
            header[6..8].copy_from_slice(&(HEIGHT as u16).to_le_bytes());
            slot.write_at(0, &header);
            let mut row = [0u8; WIDTH];
            for y in 0..HEIGHT {
                for (x, p) in row.iter_mut().enumerate() {
                    *p = pixel(frame, x, y);
                }
                slot.write_at(HEADER + y * WIDTH, &row);
            }
            Some(FRAME)
        })?;
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Reads the header and the ROI at the image centre; `None` if the frame is malformed.
fn roi_of(m: &InPlace<'_>) -> Option<(u32, [[u8; ROI]; ROI])> {
    let frame = u32::from_le_bytes(m.read_at::<4>(0)?);
    let width = usize::from(u16::from_le_bytes(m.read_at::<2>(4)?));
    let height = usize::from(u16::from_le_bytes(m.read_at::<2>(6)?));
    let (x0, y0) = (width.checked_sub(ROI)? / 2, height.checked_sub(ROI)? / 2);
    let mut roi = [[0u8; ROI]; ROI];
    for (dy, row) in roi.iter_mut().enumerate() {
        let at = HEADER + (y0 + dy) * width + x0;
        if m.copy_at(at, row) != ROI {
            return None;
        }
    }
    Some((frame, roi))
}

fn viewer(endpoint: &str) -> ringwire::Result<()> {
    let mut viewer = loop {
        match Subscriber::connect(endpoint) {
            Ok(s) => break s,
            Err(Error::Timeout) => continue,
            Err(e) => return Err(e),
        }
    };
    viewer.subscribe(b"")?;
    for _ in 0..FRAMES {
        let (frame, roi) = viewer
            .recv_in_place_timeout(Duration::from_secs(10), roi_of)?
            .ok_or(Error::State("malformed frame"))?;
        let (x0, y0) = ((WIDTH - ROI) / 2, (HEIGHT - ROI) / 2);
        let intact = roi.iter().enumerate().all(|(dy, row)| {
            row.iter()
                .enumerate()
                .all(|(dx, &p)| p == pixel(frame, x0 + dx, y0 + dy))
        });
        let mean = roi.iter().flatten().map(|&p| u32::from(p)).sum::<u32>() / (ROI * ROI) as u32;
        println!(
            "frame {frame}: roi mean {mean} {}",
            if intact { "ok" } else { "WRONG" }
        );
    }
    println!("lost frames: {}", viewer.lost());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _log = ringwire_examples::setup_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let default = format!("shm://{}", unique_name("example.camera"));
    let endpoint = args.get(1).cloned().unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("camera") => Ok(camera(&endpoint)?),
        Some("viewer") => Ok(viewer(&endpoint)?),
        None => {
            let mut camera = spawn_role("camera", &[&endpoint])?;
            let viewer = spawn_role("viewer", &[&endpoint])?;
            let result = wait_all(vec![("viewer".into(), viewer)], Duration::from_secs(60));
            let _ = camera.kill();
            let _ = camera.wait();
            result.map_err(Into::into)
        }
        Some(other) => Err(format!("unknown role {other:?}: camera or viewer").into()),
    }
}
