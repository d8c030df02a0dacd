# A pyzmq peer for ringwire's interop tests: peer.py ROLE (bind|connect) ENDPOINT
# Prints "EP <endpoint>" once bound or connected, then runs ROLE's scenario over the
# shared payload set and prints "OK" (exit 0) or raises (exit 1). Beyond the socket matrix:
# "xpub" (against a ringwire XSUB), "hb-req" (a REQ that heartbeats an idle ringwire REP),
# "json-pub" (publishes a dict as compact JSON on "reading") and "json-req" (asks a ringwire
# JSON service for a sum).
import json, sys, time, zmq

SIZES = [0, 1, 255, 256, 1 << 20]
def payload(n):
    return bytes((i * 7 + 3) % 256 for i in range(n)) if n < 4096 else (bytes((i * 7 + 3) % 256 for i in range(256)) * (n // 256))

PAYLOADS = [payload(n) for n in SIZES]
role, mode, ep = sys.argv[1], sys.argv[2], sys.argv[3]
kinds = {"pub": zmq.PUB, "sub": zmq.SUB, "req": zmq.REQ, "rep": zmq.REP, "dealer": zmq.DEALER,
         "router": zmq.ROUTER, "push": zmq.PUSH, "pull": zmq.PULL, "pair": zmq.PAIR,
         "xpub": zmq.XPUB, "hb-req": zmq.REQ, "json-pub": zmq.PUB, "json-req": zmq.REQ}
ctx = zmq.Context()
s = ctx.socket(kinds[role])
s.setsockopt(zmq.LINGER, 2000)
s.setsockopt(zmq.RCVTIMEO, 15000)
s.setsockopt(zmq.SNDTIMEO, 15000)
if role == "dealer":
    s.setsockopt(zmq.IDENTITY, b"py-dealer")
if role == "sub":
    s.setsockopt(zmq.SUBSCRIBE, b"topic")
mon = None
if role == "hb-req":
    # libzmq pings every 100 ms and drops the connection when no PONG (or other traffic)
    # arrives within 1 s (well above any scheduling delay of a loaded CI machine, well
    # below the idle time, so only answered PINGs keep the connection).
    s.setsockopt(zmq.HEARTBEAT_IVL, 100)
    s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 1000)
    mon = s.get_monitor_socket(zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED)
if mode == "bind":
    s.bind(ep)
    ep = s.getsockopt(zmq.LAST_ENDPOINT).decode()
else:
    s.connect(ep)
print("EP", ep, flush=True)

def check(got, want, what):
    if got != want:
        raise SystemExit(f"{what}: got {len(got)} bytes, want {len(want)}")

if role == "pub":
    # Publish until the subscriber (the Rust side) stops us.
    deadline = time.time() + 20
    while time.time() < deadline:
        for p in PAYLOADS:
            s.send_multipart([b"other", b"x"])
            s.send_multipart([b"topic", p])
        time.sleep(0.01)
elif role == "sub":
    seen = set()
    while len(seen) < len(PAYLOADS):
        topic, body = s.recv_multipart()
        check(topic, b"topic", "topic")
        if body not in PAYLOADS:
            raise SystemExit(f"unexpected payload of {len(body)} bytes")
        seen.add(len(body))
    # Cancel, so that a ringwire XPUB sees the CANCEL arrive as a message.
    s.setsockopt(zmq.UNSUBSCRIBE, b"topic")
    time.sleep(0.2)
elif role == "xpub":
    # Against a ringwire XSUB: its subscription arrives as a message; publish (libzmq filters
    # by it) until the XSUB's cancel arrives.
    sub = s.recv()
    if sub != b"\x01topic":
        raise SystemExit(f"subscription message {sub!r}")
    deadline = time.time() + 20
    while True:
        if time.time() > deadline:
            raise SystemExit("no cancel from the XSUB")
        for p in PAYLOADS:
            s.send_multipart([b"other", b"x"])
            s.send_multipart([b"topic", p])
        if s.poll(10, zmq.POLLIN):
            msg = s.recv()
            if msg != b"\x00topic":
                raise SystemExit(f"unexpected message to the XPUB {msg!r}")
            break
elif role == "json-pub":
    # The dict of tests/tests/codecs.rs, as the seeds' Python peers sent it, until stopped.
    d = {"sensor": "imu", "seq": 300, "value": -1.25, "ok": True, "tags": ["a", "b"],
         "offset": -7, "note": None}
    deadline = time.time() + 20
    while time.time() < deadline:
        s.send_multipart([b"other", b"{}"])
        s.send_multipart([b"reading", json.dumps(d, separators=(",", ":")).encode()])
        time.sleep(0.01)
elif role == "json-req":
    for a, b in [(40, 2), (-1, 1)]:
        s.send(json.dumps({"a": a, "b": b}).encode())
        got = json.loads(s.recv())
        if got != a + b:
            raise SystemExit(f"sum of {a} and {b}: got {got!r}")
elif role == "hb-req":
    # Idle for 3 s: the connection survives only if the ringwire side answers PINGs.
    time.sleep(3)
    if mon.poll(0):
        raise SystemExit("libzmq dropped the connection: the ringwire peer did not answer PINGs")
    for p in PAYLOADS:
        s.send(p)
        check(s.recv(), p, role)
elif role in ("req", "dealer", "pair"):
    for p in PAYLOADS:
        if role == "dealer":
            s.send_multipart([b"", p])
            empty, back = s.recv_multipart()
            check(empty, b"", "delimiter")
        else:
            s.send(p)
            back = s.recv()
        check(back, p, role)
elif role in ("rep", "router"):
    for _ in PAYLOADS:
        frames = s.recv_multipart()
        s.send_multipart(frames)
elif role == "push":
    for p in PAYLOADS:
        s.send_multipart([b"part", p])
elif role == "pull":
    for p in PAYLOADS:
        part, body = s.recv_multipart()
        check(part, b"part", "first frame")
        check(body, p, "pull")
print("OK", flush=True)
if mon is not None:
    s.disable_monitor()
    mon.close()
s.close()
ctx.term()
