# A Python peer of ringwire's apps tests, on clients/python/ringwire_apps:
#   apps_peer.py basic EP
#   apps_peer.py mixed EP CLIENTS REQUESTS PUBLISHES
#   apps_peer.py restart EP CLIENTS
#   apps_peer.py bench EP REQUESTS
# Prints progress lines (SUBSCRIBED, RESULT ...) and "OK ..." at the end, or exits 1.
import sys
import threading
import time

from ringwire_apps import AppClient, AppError, NoReply

mode, ep = sys.argv[1], sys.argv[2]


def fail(what):
    print("FAIL", what, flush=True)
    sys.exit(1)


def wait_for(cond, secs=60):
    deadline = time.monotonic() + secs
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


if mode == "basic":
    c = AppClient("bench", ep, timeout=10)
    c.connect()
    if c.send_request("echo", {"action": "get_data", "n": 1}) != {"action": "get_data", "n": 1}:
        fail("echo")
    if c.send_request("ping", None, app="other") != "pong":
        fail("per-call app")
    for args, code in [(("nope", {}), 3), (("echo", {}, "noapp"), 2), (("news", {}), 5)]:
        try:
            c.send_request(*args)
            fail("no error for %r" % (args,))
        except AppError as e:
            if e.code != code:
                fail("code %d for %r: %s" % (e.code, args, e))
    try:
        c.send_request("echo", "x" * 5000)
        fail("no error for an oversized payload")
    except AppError as e:
        if e.code != 4:
            fail("oversized: %s" % e)
    got = []
    c.subscribe("news", lambda m: got.append(m.payload))
    if c.publish("news", {"k": 1}) != 1:
        fail("publish count")
    if not wait_for(lambda: got == [{"k": 1}]):
        fail("publish delivery %r" % got)
    c.notify("audit", {"who": "python"})
    c.unsubscribe("news")
    if c.publish("news", {"k": 2}) != 0:
        fail("publish after unsubscribe")
    try:
        c.unsubscribe("news")
        fail("second unsubscribe")
    except AppError as e:
        if e.code != 8:
            fail("unsubscribe: %s" % e)
    c.disconnect()
    try:
        AppClient("bench", "tcp://127.0.0.1:1", timeout=0.1, retries=1).connect()
        fail("connect to nothing")
    except NoReply:
        pass
    print("OK", flush=True)

elif mode == "mixed":
    n, requests, publishes = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    clients, got = [], []
    for i in range(n):
        c = AppClient("bench", ep, timeout=20)
        c.connect()
        mine = []
        got.append(mine)
        c.subscribe("news", lambda m, mine=mine: mine.append(m.payload["seq"]))
        clients.append(c)
    print("SUBSCRIBED", flush=True)
    errors = []

    def run(i, c):
        try:
            for r in range(requests):
                q = {"who": "py", "client": i, "n": r}
                if c.send_request("echo", q) != q:
                    errors.append("bad reply")
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        fail(errors[:3])
    if not wait_for(lambda: all(len(g) >= publishes for g in got), 120):
        fail("publishes: got %r" % [len(g) for g in got])
    time.sleep(0.2)
    for g in got:
        if g != list(range(publishes)):
            fail("publishes out of order, lost or doubled: %r" % g[:10])
    for c in clients:
        c.disconnect()
    print("OK", n * requests, n * publishes, flush=True)

elif mode == "restart":
    n = int(sys.argv[3])
    clients, got = [], []
    for i in range(n):
        c = AppClient("bench", ep, timeout=5, retries=20, heartbeat=0.05)
        c.connect()
        mine = []
        got.append(mine)
        c.subscribe("news", lambda m, mine=mine: mine.append(m.payload["phase"]))
        clients.append(c)
    print("SUBSCRIBED", flush=True)
    if not wait_for(lambda: all(2 in g for g in got), 120):
        fail("phase 2 never came: %r" % got)
    for c in clients:
        if c.send_request("echo", {"after": "restart"}) != {"after": "restart"}:
            fail("request after restart")
        if c.resubscriptions < 1:
            fail("no resubscription")
    for c in clients:
        c.disconnect()
    print("OK", flush=True)

elif mode == "bench":
    requests = int(sys.argv[3])
    c = AppClient("bench", ep, timeout=10)
    c.connect()
    q = {"n": 1}
    for _ in range(min(1000, requests)):
        c.send_request("echo", q)
    lat = []
    for _ in range(requests):
        t = time.perf_counter_ns()
        c.send_request("echo", q)
        lat.append(time.perf_counter_ns() - t)
    lat.sort()
    p = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))] / 1000.0
    print("RESULT p50_us=%.1f p99_us=%.1f" % (p(0.50), p(0.99)), flush=True)
    c.disconnect()
    print("OK", flush=True)
else:
    fail("unknown mode " + mode)
