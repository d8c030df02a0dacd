//! The IPC Framework seed's scenario: a server with an application `my_app` and its `api`
//! channel answering `get_data` requests, a `news` channel clients subscribe and publish to,
//! and an `audit` channel for one-way notifications; a client asks, subscribes, publishes
//! and notifies (see `docs/apps.md`; the Python and Node.js clients in `clients/` speak to
//! the same server).
//!
//! ```text
//! cargo run -p ringwire-examples --bin apps                                  # both, one process
//! cargo run -p ringwire-examples --bin apps -- server tcp://127.0.0.1:8888   # the server only
//! cargo run -p ringwire-examples --bin apps -- client tcp://127.0.0.1:8888   # the client only
//! ```
#![forbid(unsafe_code)]

use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ringwire::apps::{AppClient, AppServer, ErrorCode};
use serde_json::json;

type Res = Result<(), Box<dyn std::error::Error>>;

fn server(ep: &str) -> Result<AppServer, Box<dyn std::error::Error>> {
    let server = AppServer::bind(ep)?;
    let app = server.create_application("my_app")?;
    let api = app.create_channel("api")?;
    api.on_request(|m| {
        let payload = m.json()?;
        match payload["action"].as_str() {
            Some("get_data") => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                m.reply(&json!({
                    "success": true,
                    "data": {"timestamp": now, "message": "Hello from ringwire!"},
                    "server": "ringwire apps",
                    "connection_id": m.connection,
                }))
            }
            other => Err(format!("unknown action {other:?}")),
        }
    });
    app.create_channel("news")?;
    let audit = app.create_channel("audit")?;
    audit.on_notification(|m| println!("server: notification {}", m.json().unwrap_or_default()));
    println!("server: listening on {}", server.endpoint());
    Ok(server)
}

fn client(ep: &str) -> Res {
    let client = AppClient::connect(ep)?;
    let reply = client.request_json("my_app", "api", &json!({"action": "get_data"}))?;
    println!("client: response {}", reply["data"]["message"]);
    let (tx, rx) = mpsc::channel();
    client.subscribe("my_app", "news", move |p| {
        let v: serde_json::Value = p.decode().unwrap_or_default();
        let _ = tx.send(v);
    })?;
    let reached = client.publish_json(
        "my_app",
        "news",
        &json!({"headline": "ringwire speaks IPC Framework"}),
    )?;
    println!("client: published to {reached} subscriber(s)");
    let got = rx.recv_timeout(Duration::from_secs(10))?;
    println!("client: news {}", got["headline"]);
    client.notify_json("my_app", "audit", &json!({"event": "login"}))?;
    match client.request_json("my_app", "nope", &json!({})) {
        Err(e) if e.code() == Some(ErrorCode::UnknownChannel) => println!("client: refused: {e}"),
        other => return Err(format!("expected an unknown-channel error, got {other:?}").into()),
    }
    client.disconnect();
    Ok(())
}

fn main() -> Res {
    let _log = ringwire_examples::setup_logging();
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => {
            let s = server("tcp://127.0.0.1:0")?;
            client(&s.endpoint())?;
            let stats = s.stop();
            println!(
                "server: {} response(s), {} publish(es), {} notification(s), {} error(s)",
                stats.responses, stats.publishes, stats.notifications, stats.errors
            );
            Ok(())
        }
        ["server", ep] => {
            let _s = server(ep)?;
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        ["client", ep] => client(ep),
        _ => Err("usage: apps [server EP | client EP]".into()),
    }
}
