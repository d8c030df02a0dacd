use std::time::Duration;

use super::*;

fn temp(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("rw-node-{}-{name}", std::process::id()))
}

#[test]
fn node_id_is_created_once_and_stable() {
    let dir = temp("stable");
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("sub").join("config.ini");
    let a = NodeId::load_or_create(&path).unwrap();
    let b = NodeId::load_or_create(&path).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.as_str().len(), 32);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains(&format!("node_id = {a}"))
    );
    assert_ne!(a, NodeId::random());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn node_id_file_written_by_hand_is_read() {
    let path = temp("hand.ini");
    std::fs::write(&path, "; mine\n[node]\n  node_id =  arm-7  \n").unwrap();
    assert_eq!(NodeId::load_or_create(&path).unwrap().as_str(), "arm-7");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn malformed_node_id_file_is_a_config_error_and_kept() {
    for (i, text) in [
        "[node]\n",
        "node_id = two words\n",
        "garbage\n",
        "node_id =\n",
    ]
    .iter()
    .enumerate()
    {
        let path = temp(&format!("bad{i}.ini"));
        std::fs::write(&path, text).unwrap();
        let err = NodeId::load_or_create(&path).unwrap_err();
        assert_eq!(ErrorKind::of(&err), ErrorKind::Config, "{text:?}: {err}");
        assert!(err.to_string().contains("delete it"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            *text,
            "never overwritten"
        );
        std::fs::remove_file(&path).unwrap();
    }
    let invalid_utf8 = temp("bin.ini");
    std::fs::write(&invalid_utf8, [0xff, 0xfe]).unwrap();
    let err = NodeId::load_or_create(&invalid_utf8).unwrap_err();
    assert_eq!(ErrorKind::of(&err), ErrorKind::Config);
    std::fs::remove_file(&invalid_utf8).unwrap();
}

#[test]
fn unreadable_node_id_path_is_an_io_error() {
    // A directory where the file should be.
    let dir = temp("isdir");
    std::fs::create_dir_all(&dir).unwrap();
    let err = NodeId::load_or_create(&dir).unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn handlers_answer_the_envelope() {
    let h = Handlers::new()
        .on("add", |(a, b): (i32, i32)| a + b)
        .on_result("fail", |_| Err("nope".to_string()));
    let q = postcard::to_stdvec(&(2i32, 3i32)).unwrap();
    let reply = h.handle(&[b"add".to_vec(), q]);
    assert_eq!(
        parse_reply(&reply).unwrap(),
        postcard::to_stdvec(&5i32).unwrap()
    );
    let err = parse_reply(&h.handle(&[b"fail".to_vec(), vec![]])).unwrap_err();
    assert_eq!(err, BrokerError::Handler("nope".into()));
    let err = parse_reply(&h.handle(&[b"other".to_vec(), vec![]])).unwrap_err();
    assert!(matches!(err, BrokerError::Handler(ref m) if m.contains("no handler")));
    // A payload that does not decode as (i32, i32).
    let err = parse_reply(&h.handle(&[b"add".to_vec(), vec![0xff]])).unwrap_err();
    assert!(matches!(err, BrokerError::Handler(ref m) if m.contains("decode")));
    // Not an envelope and no catch-all: an error reply, not a panic.
    for body in [vec![], vec![vec![1]], vec![vec![1], vec![2], vec![3]]] {
        assert!(parse_reply(&h.handle(&body)).is_err());
    }
    let echo = Handlers::new().any(|p| p.to_vec());
    assert_eq!(echo.handle(&[b"x".to_vec()]), vec![b"x".to_vec()]);
    assert_eq!(
        parse_reply(&echo.handle(&[b"e".to_vec(), b"p".to_vec()])).unwrap(),
        b"p"
    );
}

#[test]
fn reply_parsing_rejects_what_is_not_an_envelope() {
    assert!(matches!(parse_reply(&[]), Err(BrokerError::Malformed(_))));
    assert!(matches!(
        parse_reply(&[vec![9], vec![]]),
        Err(BrokerError::Malformed(_))
    ));
    assert_eq!(
        parse_reply(&[vec![STATUS_BROKER_ERROR], b"full".to_vec()]),
        Err(BrokerError::Unavailable("full".into()))
    );
}

#[test]
fn error_kinds_map_the_seeds() {
    let no_reply = Error::Broker(BrokerError::NoReply {
        event: "e".into(),
        attempts: 3,
        timeout: Duration::from_millis(10),
    });
    assert_eq!(ErrorKind::of(&no_reply), ErrorKind::Timeout);
    assert!(no_reply.to_string().contains("3 attempt"));
    assert_eq!(ErrorKind::of(&Error::Timeout), ErrorKind::Timeout);
    assert_eq!(ErrorKind::of(&Error::Disconnected), ErrorKind::Connection);
    let io = Error::Io(std::io::Error::other("x"));
    assert_eq!(ErrorKind::of(&io), ErrorKind::Socket);
    let handler = Error::Broker(BrokerError::Handler("h".into()));
    assert_eq!(ErrorKind::of(&handler), ErrorKind::Client);
    let malformed = Error::Broker(BrokerError::Malformed("m".into()));
    assert_eq!(ErrorKind::of(&malformed), ErrorKind::Malformed);
    assert_eq!(check_event(""), Err(BrokerError::BadEvent(0)));
    assert!(check_event(&"x".repeat(256)).is_err());
}

#[test]
fn client_server_round_trip_over_inproc() {
    let handlers = Handlers::new()
        .on("add", |(a, b): (i32, i32)| a + b)
        .on_bytes("upper", |p| p.to_ascii_uppercase());
    let server = Server::bind("inproc://broker-unit-server", handlers).unwrap();
    let mut c = Client::builder("inproc://broker-unit-server")
        .timeout(Duration::from_secs(5))
        .connect()
        .unwrap();
    for i in 0..20 {
        let sum: i32 = c.request("add", &(i, 1)).unwrap();
        assert_eq!(sum, i + 1);
    }
    assert_eq!(c.request_bytes("upper", b"abc").unwrap(), b"ABC");
    let err = c.request_bytes("missing", b"").unwrap_err();
    assert_eq!(ErrorKind::of(&err), ErrorKind::Client, "{err}");
    let stats = server.stop().unwrap();
    assert_eq!(stats.replies, 22);
}

#[test]
fn client_gives_up_after_its_retries() {
    // Nobody listens: every attempt times out.
    let mut c = Client::builder("inproc://broker-unit-nobody")
        .timeout(Duration::from_millis(30))
        .retries(2)
        .connect()
        .unwrap();
    let err = c.request_bytes("e", b"p").unwrap_err();
    assert!(
        matches!(err, Error::Broker(BrokerError::NoReply { attempts: 3, .. })),
        "{err:?}"
    );
    assert_eq!(c.retries_made(), 2);
}

#[test]
fn golden_envelope_bytes_on_the_wire() {
    // The bytes docs/broker.md gives: a REQ client's "add" (2, 3) and the reply 5.
    let mut router = crate::zmtp::Router::bind("inproc://broker-unit-golden").unwrap();
    let asker = std::thread::spawn(|| {
        let mut c = Client::builder("inproc://broker-unit-golden")
            .timeout(Duration::from_secs(30))
            .connect()
            .unwrap();
        c.request::<_, i32>("add", &(2i32, 3i32)).unwrap()
    });
    let m = router
        .recv_multipart_timeout(Duration::from_secs(30))
        .unwrap();
    let f = m.frames();
    assert_eq!(&f[1..], &[vec![], b"add".to_vec(), vec![0x04, 0x06]]);
    let h = Handlers::new().on("add", |(a, b): (i32, i32)| a + b);
    let reply = h.handle(&f[2..]);
    assert_eq!(reply, vec![vec![0x00], vec![0x0a]]);
    router
        .send_multipart(&[&f[0], b"", &reply[0], &reply[1]])
        .unwrap();
    assert_eq!(asker.join().unwrap(), 5);
}
