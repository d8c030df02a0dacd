"""The client: one DEALER. The calling thread sends and reads its own answer (one call at a
time, under a lock); while the client has subscriptions, an I/O thread reads publishes when
no call holds the socket. pyzmq sockets are not thread-safe, so the socket only ever moves
between threads under that lock."""

import itertools
import json
import logging
import queue
import struct
import threading
import time
from collections import namedtuple

import zmq

log = logging.getLogger("ringwire_apps")

VERSION = 0x01
FLAG_JSON = 0x01
REQUEST, PUBLISH, SUBSCRIBE, UNSUBSCRIBE, NOTIFY, HELLO = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
RESPONSE, ACK, ERROR, MESSAGE, WELCOME = 0x81, 0x82, 0x83, 0x84, 0x86
ERROR_NAMES = {
    1: "malformed",
    2: "unknown application",
    3: "unknown channel",
    4: "oversized",
    5: "no handler",
    6: "handler error",
    7: "full",
    8: "not subscribed",
}

Message = namedtuple("Message", "app channel payload")
"""A publish on a subscribed channel: ``payload`` is the decoded JSON value."""


class AppError(Exception):
    """The server refused a message: ``code`` (int), ``name`` and the server's sentence."""

    def __init__(self, code, message):
        self.code = code
        self.name = ERROR_NAMES.get(code, "error %d" % code)
        super().__init__("%s: %s" % (self.name, message))


class NoReply(TimeoutError):
    """No answer after every attempt: is a server listening at the endpoint?"""


def header(kind, ident, flags=0):
    return struct.pack("<BBBBI", VERSION, kind, flags, 0, ident)


class AppClient:
    """A client of application ``app`` (the default of every call; each call may name
    another) on the server at ``endpoint`` (``tcp://host:port`` or ``ipc:///path``)."""

    def __init__(self, app, endpoint, timeout=2.5, retries=2, heartbeat=1.0):
        self.app = app
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = retries
        self.heartbeat = heartbeat
        self.resubscriptions = 0
        self._ids = itertools.count(1)
        self._call_lock = threading.Lock()
        self._sock_lock = threading.Lock()
        self._callers = 0
        self._wake = threading.Condition()
        self._subs = {}
        self._dealer = None
        self._session = 0
        self._ctx = None
        self._io = None
        self._worker = None
        self._jobs = queue.Queue()
        self._stop = threading.Event()

    # -- connection ---------------------------------------------------------------------

    def connect(self):
        """Connects and checks that the server answers (raises ``NoReply`` otherwise)."""
        self._ctx = zmq.Context()
        dealer = self._ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.RECONNECT_IVL, 50)
        dealer.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        dealer.setsockopt(zmq.SNDHWM, 100000)
        dealer.setsockopt(zmq.RCVHWM, 100000)
        dealer.connect(self.endpoint)
        self._dealer = dealer
        self._stop.clear()
        self._io = threading.Thread(target=self._io_loop, daemon=True)
        self._io.start()
        self._worker = threading.Thread(target=self._handler_loop, daemon=True)
        self._worker.start()
        try:
            self._call(HELLO, None, None, None)
        except BaseException:
            self.disconnect()
            raise
        return self

    def disconnect(self):
        """Closes the connection and stops the client's threads."""
        if self._ctx is None:
            return
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        self._io.join()
        self._jobs.put(None)
        if threading.current_thread() is not self._worker:
            self._worker.join()
        with self._sock_lock:
            self._dealer.close(linger=0)
        self._ctx.term()
        self._ctx = None

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.disconnect()

    # -- calls --------------------------------------------------------------------------

    def send_request(self, channel, payload, app=None):
        """Sends ``payload`` (JSON-serialisable) to the channel's request handler and
        returns its reply, decoded."""
        kind, frames = self._call(REQUEST, app, channel, payload)
        return json.loads(frames[3]) if frames[3] else None

    def publish(self, channel, payload, app=None):
        """Publishes ``payload`` to the channel's subscribers; returns how many it reached."""
        return self._call(PUBLISH, app, channel, payload)[1]

    def notify(self, channel, payload, app=None):
        """Sends a one-way notification to the channel's notification handler."""
        self._call(NOTIFY, app, channel, payload)

    def subscribe(self, channel, handler, app=None):
        """Calls ``handler(Message)`` for every publish on the channel (on the client's
        handler thread, one at a time, in arrival order)."""
        key = (app or self.app, channel)
        self._subs[key] = handler
        try:
            self._call(SUBSCRIBE, app, channel, None)
        except BaseException:
            self._subs.pop(key, None)
            raise

    def unsubscribe(self, channel, app=None):
        """Ends a subscription."""
        key = (app or self.app, channel)
        try:
            self._call(UNSUBSCRIBE, app, channel, None)
        finally:
            self._subs.pop(key, None)

    def _call(self, kind, app, channel, payload):
        if self._ctx is None or self._stop.is_set():
            raise RuntimeError("the client is not connected")
        with self._call_lock:
            try:
                return self._call_locked(kind, app, channel, payload)
            finally:
                with self._wake:
                    self._wake.notify_all()

    def _call_locked(self, kind, app, channel, payload):
        ident = next(self._ids) & 0xFFFFFFFF or next(self._ids)
        if kind == HELLO:
            frames = [header(kind, ident)]
        else:
            body = b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()
            frames = [header(kind, ident, FLAG_JSON), (app or self.app).encode(), channel.encode(), body]
        self._callers += 1
        with self._sock_lock:
            self._callers -= 1
            dealer = self._dealer
            got = None
            for attempt in range(self.retries + 1):
                if attempt:
                    log.info("no answer from %s within %.1f s: sending again", self.endpoint, self.timeout)
                deadline = time.monotonic() + self.timeout
                sent = False
                while got is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    if not sent:
                        try:
                            dealer.send_multipart(frames, zmq.NOBLOCK)
                            sent = True
                        except zmq.Again:
                            time.sleep(min(0.05, left))
                            continue
                    if dealer.poll(max(1, int(left * 1000)), zmq.POLLIN):
                        answer = self._dispatch(dealer, dealer.recv_multipart())
                        if answer is not None and answer[0] == ident:
                            got = answer[1]
                if got is not None:
                    break
            else:
                raise NoReply("no reply from %s after %d attempt(s)" % (self.endpoint, self.retries + 1))
        kind_got = got[0][1]
        if kind_got == ERROR:
            raise AppError(got[0][3], got[1].decode("utf-8", "replace"))
        if kind_got == ACK:
            return kind_got, struct.unpack("<I", got[1])[0]
        return kind_got, got

    # -- threads ------------------------------------------------------------------------

    def _io_loop(self):
        last_hello = time.monotonic()
        while not self._stop.is_set():
            if not self._subs:
                # Nothing to read for: calls read their own answers.
                with self._wake:
                    self._wake.wait(self.heartbeat)
                continue
            if self._callers or not self._sock_lock.acquire(blocking=False):
                with self._wake:
                    self._wake.wait(0.05)
                continue
            try:
                dealer = self._dealer
                now = time.monotonic()
                if now - last_hello >= self.heartbeat:
                    last_hello = now
                    try:
                        dealer.send_multipart([header(HELLO, 0)], zmq.NOBLOCK)
                    except zmq.Again:
                        pass
                if dealer.poll(5, zmq.POLLIN):
                    while True:
                        try:
                            frames = dealer.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        self._dispatch(dealer, frames)
            finally:
                self._sock_lock.release()

    def _dispatch(self, dealer, frames):
        head = frames[0]
        if len(head) != 8 or head[0] != VERSION:
            log.warning("malformed message from %s", self.endpoint)
            return None
        kind = head[1]
        ident = struct.unpack("<I", head[4:8])[0]
        if kind == MESSAGE and len(frames) == 4:
            payload = json.loads(frames[3]) if head[2] & FLAG_JSON and frames[3] else bytes(frames[3])
            self._jobs.put(Message(frames[1].decode(), frames[2].decode(), payload))
            return None
        if kind == WELCOME and len(frames) == 2:
            session = struct.unpack("<Q", frames[1])[0]
            old, self._session = self._session, session
            if old not in (0, session):
                for app, channel in list(self._subs.copy()):
                    dealer.send_multipart([header(SUBSCRIBE, 0), app.encode(), channel.encode(), b""])
                self.resubscriptions += 1
                log.info(
                    "reconnected to %s (new session %016x): subscribed again to %d channel(s)",
                    self.endpoint, session, len(self._subs))
        if kind in (RESPONSE, ACK, ERROR, WELCOME):
            return ident, frames
        return None

    def _handler_loop(self):
        while True:
            msg = self._jobs.get()
            if msg is None:
                return
            handler = self._subs.get((msg.app, msg.channel))
            if handler is None:
                continue
            try:
                handler(msg)
            except Exception:  # a handler's error must not stop the others
                log.exception("subscription handler of %s/%s failed", msg.app, msg.channel)
