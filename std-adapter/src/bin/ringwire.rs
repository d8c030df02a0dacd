//! The `ringwire` command-line tool.
#![forbid(unsafe_code)]

use clap::Parser;

/// ringwire: messaging for robotics control loops.
#[derive(Parser)]
#[command(name = "ringwire", version, about)]
struct Cli {}

fn main() {
    let Cli {} = Cli::parse();
}
