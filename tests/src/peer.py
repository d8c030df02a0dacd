# A pyzmq peer for ringwire's interop tests: peer.py ROLE (bind|connect) ENDPOINT
# Prints "EP <endpoint>" once bound or connected, then runs ROLE's scenario over the
# shared payload set and prints "OK" (exit 0) or raises (exit 1).
import sys, time, zmq

SIZES = [0, 1, 255, 256, 1 << 20]
def payload(n):
    return bytes((i * 7 + 3) % 256 for i in range(n)) if n < 4096 else (bytes((i * 7 + 3) % 256 for i in range(256)) * (n // 256))

PAYLOADS = [payload(n) for n in SIZES]
role, mode, ep = sys.argv[1], sys.argv[2], sys.argv[3]
kinds = {"pub": zmq.PUB, "sub": zmq.SUB, "req": zmq.REQ, "rep": zmq.REP, "dealer": zmq.DEALER,
         "router": zmq.ROUTER, "push": zmq.PUSH, "pull": zmq.PULL, "pair": zmq.PAIR}
ctx = zmq.Context()
s = ctx.socket(kinds[role])
s.setsockopt(zmq.LINGER, 2000)
s.setsockopt(zmq.RCVTIMEO, 15000)
s.setsockopt(zmq.SNDTIMEO, 15000)
if role == "dealer":
    s.setsockopt(zmq.IDENTITY, b"py-dealer")
if role == "sub":
    s.setsockopt(zmq.SUBSCRIBE, b"topic")
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
s.close()
ctx.term()
