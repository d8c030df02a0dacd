# pyzmq peer for ringwire's XPUB/XSUB and heartbeat interop tests:
# peer_x.py ROLE (bind|connect) ENDPOINT. Prints "EP <endpoint>", runs ROLE's scenario,
# prints "OK" (exit 0) or exits non-zero with the reason.
import sys, time, zmq

SIZES = [0, 1, 255, 256, 1 << 20]
def payload(n):
    return bytes((i * 7 + 3) % 256 for i in range(n)) if n < 4096 else (bytes((i * 7 + 3) % 256 for i in range(256)) * (n // 256))
PAYLOADS = [payload(n) for n in SIZES]

role, mode, ep = sys.argv[1], sys.argv[2], sys.argv[3]
kinds = {"sub": zmq.SUB, "xpub": zmq.XPUB, "hb-req": zmq.REQ, "rep": zmq.REP}
ctx = zmq.Context()
s = ctx.socket(kinds[role])
s.setsockopt(zmq.LINGER, 2000)
s.setsockopt(zmq.RCVTIMEO, 15000)
s.setsockopt(zmq.SNDTIMEO, 15000)
if role == "sub":
    s.setsockopt(zmq.SUBSCRIBE, b"topic")
mon = None
if role == "hb-req":
    # libzmq pings every 50 ms and drops the connection when no PONG (or other traffic)
    # arrives within 200 ms.
    s.setsockopt(zmq.HEARTBEAT_IVL, 50)
    s.setsockopt(zmq.HEARTBEAT_TIMEOUT, 200)
    mon = s.get_monitor_socket(zmq.EVENT_DISCONNECTED | zmq.EVENT_CLOSED)
if mode == "bind":
    s.bind(ep)
    ep = s.getsockopt(zmq.LAST_ENDPOINT).decode()
else:
    s.connect(ep)
print("EP", ep, flush=True)

def fail(why):
    print("FAIL", why, flush=True)
    sys.exit(1)

if role == "sub":
    # Against a ringwire XPUB: receive every payload on "topic" (nothing else), then
    # unsubscribe so the XPUB sees the cancel.
    seen = set()
    while len(seen) < len(PAYLOADS):
        topic, body = s.recv_multipart()
        if topic != b"topic" or body not in PAYLOADS:
            fail(f"unexpected message {topic!r} of {len(body)} bytes")
        seen.add(len(body))
    s.setsockopt(zmq.UNSUBSCRIBE, b"topic")
    time.sleep(0.5)
elif role == "xpub":
    # Against a ringwire XSUB: its subscription arrives as a message, then publish (libzmq
    # filters by it) until the XSUB's cancel arrives.
    sub = s.recv()
    if sub != b"\x01topic":
        fail(f"subscription message {sub!r}")
    deadline = time.time() + 20
    while True:
        if time.time() > deadline:
            fail("no cancel from the XSUB")
        for p in PAYLOADS:
            s.send_multipart([b"other", b"x"])
            s.send_multipart([b"topic", p])
        if s.poll(10, zmq.POLLIN):
            msg = s.recv()
            if msg == b"\x00topic":
                break
            fail(f"unexpected message to the XPUB {msg!r}")
elif role == "hb-req":
    # Idle for 1.5 s: the connection survives only if the ringwire side answers PINGs.
    time.sleep(1.5)
    if mon.poll(0):
        fail("libzmq dropped the connection: the ringwire peer did not answer PINGs")
    s.send(b"after idle")
    if s.recv() != b"after idle":
        fail("wrong reply")
elif role == "rep":
    # Echo one request after the ringwire REQ (heartbeating) has been idle.
    s.send(s.recv())
print("OK", flush=True)
if mon is not None:
    s.disable_monitor()
    mon.close()
s.close()
ctx.term()
