pub fn run(cmd: &str, args: &[String]) {
    panic!("shm_peer: unknown command {cmd:?} ({args:?})")
}
