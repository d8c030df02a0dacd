# pyzmq peers of ringwire's broker, written from the ZeroMQ guide's recipes (chapters 3-4)
# and rfc.zeromq.org specs 6 and 18: broker_peer.py ROLE ARGS...
#
#   lbworker EP            the load-balancing worker (REQ, "READY", then [client, "", body])
#   pppworker EP           the Paranoid Pirate worker (DEALER, 0x01 READY, 0x02 heartbeats)
#   mdpworker EP SERVICE   a Majordomo/0.2 worker
#   lpclient EP N          the Lazy Pirate client (REQ, timeout, close and reopen, retries)
#   mdpclient EP SERVICE N a Majordomo/0.2 client
#   lbbroker FRONT BACK    the load-balancing broker (two ROUTERs)
#
# Workers answer ringwire's request envelope ([event, payload] -> [0x00, payload upper-cased])
# and print "EP <ep>" once connected, then serve until killed. Clients send N requests in the
# envelope, check every reply, and print "EP <ep>" first and "OK" at the end. The broker
# prints "EP <front> <back>" and serves until killed.
import sys, time, zmq

ctx = zmq.Context()
role = sys.argv[1]

def answer(body):
    # ringwire's envelope: event name, payload -> status 0, payload upper-cased.
    if len(body) != 2:
        return [b"\x01", b"not an envelope"]
    return [b"\x00", body[1].upper()]

def lbworker(ep):
    s = ctx.socket(zmq.REQ)
    s.connect(ep)
    print("EP", ep, flush=True)
    s.send(b"READY")
    while True:
        msg = s.recv_multipart()
        address, empty, body = msg[0], msg[1], msg[2:]
        assert empty == b""
        s.send_multipart([address, b""] + answer(body))

def pppworker(ep):
    HEARTBEAT = 0.1
    LIVENESS = 30
    def connect():
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(ep)
        s.send(b"\x01")
        return s
    s = connect()
    print("EP", ep, flush=True)
    poller = zmq.Poller()
    poller.register(s, zmq.POLLIN)
    liveness = LIVENESS
    next_beat = time.time() + HEARTBEAT
    while True:
        events = dict(poller.poll(HEARTBEAT * 1000))
        if events.get(s) == zmq.POLLIN:
            frames = s.recv_multipart()
            liveness = LIVENESS
            if len(frames) == 1 and frames[0] == b"\x02":
                pass
            elif len(frames) >= 3 and frames[1] == b"":
                s.send_multipart(frames[:2] + answer(frames[2:]))
            else:
                print("bad message", frames, file=sys.stderr, flush=True)
        else:
            liveness -= 1
            if liveness == 0:
                poller.unregister(s)
                s.close()
                s = connect()
                poller.register(s, zmq.POLLIN)
                liveness = LIVENESS
        if time.time() >= next_beat:
            next_beat = time.time() + HEARTBEAT
            s.send(b"\x02")

def mdpworker(ep, service):
    s = ctx.socket(zmq.DEALER)
    s.connect(ep)
    s.send_multipart([b"MDPW02", b"\x01", service.encode()])
    print("EP", ep, flush=True)
    poller = zmq.Poller()
    poller.register(s, zmq.POLLIN)
    next_beat = time.time() + 0.1
    while True:
        if dict(poller.poll(100)).get(s) == zmq.POLLIN:
            frames = s.recv_multipart()
            assert frames[0] == b"MDPW02", frames
            if frames[1] == b"\x02":  # REQUEST: client address, "", body
                client, empty, body = frames[2], frames[3], frames[4:]
                assert empty == b""
                s.send_multipart([b"MDPW02", b"\x04", client, b""] + answer(body))
            elif frames[1] == b"\x06":  # DISCONNECT
                raise SystemExit("broker said DISCONNECT")
        if time.time() >= next_beat:
            next_beat = time.time() + 0.1
            s.send_multipart([b"MDPW02", b"\x05"])

def lpclient(ep, n):
    TIMEOUT, RETRIES = 2500, 10
    def connect():
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(ep)
        return s
    s = connect()
    print("EP", ep, flush=True)
    for i in range(n):
        request = [b"shout", b"hello %d" % i]
        s.send_multipart(request)
        retries = RETRIES
        while True:
            if (s.poll(TIMEOUT) & zmq.POLLIN) != 0:
                reply = s.recv_multipart()
                assert reply == [b"\x00", b"HELLO %d" % i], reply
                break
            retries -= 1
            s.setsockopt(zmq.LINGER, 0)
            s.close()
            assert retries > 0, "server seems to be offline"
            s = connect()
            s.send_multipart(request)
    print("OK", flush=True)

def mdpclient(ep, service, n):
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.RCVTIMEO, 30000)
    s.connect(ep)
    print("EP", ep, flush=True)
    for i in range(n):
        s.send_multipart([b"MDPC02", b"\x01", service.encode(), b"shout", b"mdp %d" % i])
        reply = s.recv_multipart()
        assert reply == [b"MDPC02", b"\x03", service.encode(), b"\x00", b"MDP %d" % i], reply
    print("OK", flush=True)

def lbbroker(front, back):
    frontend = ctx.socket(zmq.ROUTER)
    backend = ctx.socket(zmq.ROUTER)
    frontend.bind(front)
    backend.bind(back)
    print("EP", frontend.getsockopt(zmq.LAST_ENDPOINT).decode(),
          backend.getsockopt(zmq.LAST_ENDPOINT).decode(), flush=True)
    workers = []
    poller = zmq.Poller()
    poller.register(backend, zmq.POLLIN)
    while True:
        if workers:
            poller.register(frontend, zmq.POLLIN)
        events = dict(poller.poll())
        if workers:
            poller.unregister(frontend)
        if events.get(backend) == zmq.POLLIN:
            msg = backend.recv_multipart()
            worker, empty, rest = msg[0], msg[1], msg[2:]
            assert empty == b""
            workers.append(worker)
            if rest != [b"READY"]:
                client, empty, reply = rest[0], rest[1], rest[2:]
                frontend.send_multipart([client, b""] + reply)
        if events.get(frontend) == zmq.POLLIN:
            client, empty, *request = frontend.recv_multipart()
            frontend_worker = workers.pop(0)
            backend.send_multipart([frontend_worker, b"", client, b""] + request)

if role == "lbworker":
    lbworker(sys.argv[2])
elif role == "pppworker":
    pppworker(sys.argv[2])
elif role == "mdpworker":
    mdpworker(sys.argv[2], sys.argv[3])
elif role == "lpclient":
    lpclient(sys.argv[2], int(sys.argv[3]))
elif role == "mdpclient":
    mdpclient(sys.argv[2], sys.argv[3], int(sys.argv[4]))
elif role == "lbbroker":
    lbbroker(sys.argv[2], sys.argv[3])
else:
    raise SystemExit("unknown role " + role)
