#[test]
fn exp() {
    let mut p = ringwire::zmtp::Req::bind("tcp://127.0.0.1:0").unwrap();
    let mon = p.monitor();
    let ep = p.bound_endpoints()[0].to_string();
    let mut c = std::process::Command::new("/work/wt/zmtp/target/interop-venv/bin/python3").arg("/tmp/exp/rep.py").arg(&ep).spawn().unwrap();
    p.send_bytes(b"").unwrap();
    let r = p.recv_bytes_timeout(std::time::Duration::from_secs(3));
    eprintln!("{r:?}");
    while let Ok(e) = mon.try_recv() { eprintln!("{e:?}"); }
    c.wait().unwrap();
}
