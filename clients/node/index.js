// Node.js client of ringwire's application server (ringwire::apps), on the npm `zeromq`
// package (6.x). The envelope is documented byte for byte in docs/apps.md.
"use strict";

const zmq = require("zeromq");

const VERSION = 0x01;
const FLAG_JSON = 0x01;
const K = { REQUEST: 0x01, PUBLISH: 0x02, SUBSCRIBE: 0x03, UNSUBSCRIBE: 0x04, NOTIFY: 0x05, HELLO: 0x06,
  RESPONSE: 0x81, ACK: 0x82, ERROR: 0x83, MESSAGE: 0x84, WELCOME: 0x86 };
const ERROR_NAMES = { 1: "malformed", 2: "unknown application", 3: "unknown channel", 4: "oversized",
  5: "no handler", 6: "handler error", 7: "full", 8: "not subscribed" };

/** The server refused a message: `code`, `name` and the server's sentence. */
class AppError extends Error {
  constructor(code, message) {
    const name = ERROR_NAMES[code] || `error ${code}`;
    super(`${name}: ${message}`);
    this.code = code;
    this.codeName = name;
  }
}

/** No answer after every attempt: is a server listening at the endpoint? */
class NoReply extends Error {}

function header(kind, id, flags = 0) {
  const h = Buffer.alloc(8);
  h[0] = VERSION; h[1] = kind; h[2] = flags; h[3] = 0;
  h.writeUInt32LE(id >>> 0, 4);
  return h;
}

/**
 * A client of application `app` (the default of every call; each call may name another) on
 * the server at `endpoint` (or `{host, port}` as in the seed).
 */
class AppClient {
  constructor(app, endpoint, options = {}) {
    this.app = app;
    if (typeof endpoint === "object" && endpoint !== null) {
      endpoint = `tcp://${endpoint.host || "127.0.0.1"}:${endpoint.port}`;
    }
    this.endpoint = endpoint;
    this.timeout = options.timeout ?? 2500;
    this.retries = options.retries ?? 2;
    this.heartbeat = options.heartbeat ?? 1000;
    this.log = options.log ?? ((line) => console.error(line));
    this.resubscriptions = 0;
    this._nextId = 0;
    this._pending = new Map();
    this._subs = new Map();
    this._session = 0n;
    this._sendChain = Promise.resolve();
    this._socket = null;
    this._timer = null;
  }

  /** Connects and checks that the server answers (rejects with NoReply otherwise). */
  async connect() {
    const s = new zmq.Dealer({ linger: 0, reconnectInterval: 50, reconnectMaxInterval: 2000,
      sendHighWaterMark: 100000, receiveHighWaterMark: 100000 });
    s.connect(this.endpoint);
    this._socket = s;
    this._reading = this._readLoop(s);
    this._timer = setInterval(() => {
      if (this._subs.size > 0) this._send([header(K.HELLO, 0)]).catch(() => {});
    }, this.heartbeat);
    try {
      await this._call(K.HELLO);
    } catch (e) {
      this.disconnect();
      throw e;
    }
    return this;
  }

  /** Closes the connection. */
  disconnect() {
    if (this._timer) clearInterval(this._timer);
    this._timer = null;
    if (this._socket) this._socket.close();
    this._socket = null;
    for (const p of this._pending.values()) p.reject(new Error("disconnected"));
    this._pending.clear();
  }

  /** Sends `payload` to the channel's request handler; resolves to its reply, decoded. */
  async sendRequest(channel, payload, app) {
    const frames = await this._call(K.REQUEST, app, channel, payload);
    return frames[3].length ? JSON.parse(frames[3].toString()) : null;
  }

  /** Publishes to the channel's subscribers; resolves to how many it reached. */
  async publish(channel, payload, app) {
    return this._call(K.PUBLISH, app, channel, payload);
  }

  /** Sends a one-way notification to the channel's notification handler. */
  async notify(channel, payload, app) {
    await this._call(K.NOTIFY, app, channel, payload);
  }

  /** Calls `handler({app, channel, payload})` for every publish on the channel. */
  async subscribe(channel, handler, app) {
    const key = `${app || this.app}\u0000${channel}`;
    this._subs.set(key, handler);
    try {
      await this._call(K.SUBSCRIBE, app, channel);
    } catch (e) {
      this._subs.delete(key);
      throw e;
    }
  }

  /** Ends a subscription. */
  async unsubscribe(channel, app) {
    const key = `${app || this.app}\u0000${channel}`;
    try {
      await this._call(K.UNSUBSCRIBE, app, channel);
    } finally {
      this._subs.delete(key);
    }
  }

  _send(frames) {
    // zeromq.js allows one send in progress at a time: chain them.
    const s = this._socket;
    const p = this._sendChain.then(() => (s ? s.send(frames) : undefined));
    this._sendChain = p.catch(() => {});
    return p;
  }

  async _call(kind, app, channel, payload) {
    if (!this._socket) throw new Error("the client is not connected");
    this._nextId = (this._nextId + 1) >>> 0 || 1;
    const id = this._nextId;
    let frames;
    if (kind === K.HELLO) {
      frames = [header(kind, id)];
    } else {
      const body = payload === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(payload));
      frames = [header(kind, id, FLAG_JSON), Buffer.from(app || this.app), Buffer.from(channel), body];
    }
    const answer = new Promise((resolve, reject) => this._pending.set(id, { resolve, reject }));
    try {
      for (let attempt = 0; attempt <= this.retries; attempt++) {
        await this._send(frames);
        let timer;
        const timeout = new Promise((r) => { timer = setTimeout(() => r(null), this.timeout); });
        const got = await Promise.race([answer, timeout]);
        clearTimeout(timer);
        if (got !== null) {
          const kindGot = got[0][1];
          if (kindGot === K.ERROR) throw new AppError(got[0][3], got[1].toString());
          if (kindGot === K.ACK) return got[1].readUInt32LE(0);
          return got;
        }
      }
      throw new NoReply(`no reply from ${this.endpoint} after ${this.retries + 1} attempt(s)`);
    } finally {
      this._pending.delete(id);
    }
  }

  async _readLoop(s) {
    try {
      for await (const frames of s) this._dispatch(frames);
    } catch (e) {
      if (this._socket === s) this.log(`ringwire_apps: receive from ${this.endpoint}: ${e.message}`);
    }
  }

  _dispatch(frames) {
    const h = frames[0];
    if (h.length !== 8 || h[0] !== VERSION) {
      this.log(`ringwire_apps: malformed message from ${this.endpoint}`);
      return;
    }
    const kind = h[1];
    const id = h.readUInt32LE(4);
    if (kind === K.MESSAGE && frames.length === 4) {
      const app = frames[1].toString();
      const channel = frames[2].toString();
      const handler = this._subs.get(`${app}\u0000${channel}`);
      if (!handler) return;
      const payload = h[2] & FLAG_JSON && frames[3].length ? JSON.parse(frames[3].toString()) : frames[3];
      try {
        handler({ app, channel, payload });
      } catch (e) {
        this.log(`ringwire_apps: subscription handler of ${app}/${channel} failed: ${e.stack}`);
      }
      return;
    }
    if (kind === K.WELCOME && frames.length === 2) {
      const session = frames[1].readBigUInt64LE(0);
      const old = this._session;
      this._session = session;
      if (old !== 0n && old !== session) {
        for (const key of this._subs.keys()) {
          const [app, channel] = key.split("\u0000");
          this._send([header(K.SUBSCRIBE, 0), Buffer.from(app), Buffer.from(channel), Buffer.alloc(0)]).catch(() => {});
        }
        this.resubscriptions += 1;
        this.log(`ringwire_apps: reconnected to ${this.endpoint} (new session ${session.toString(16)}): subscribed again to ${this._subs.size} channel(s)`);
      }
    }
    const p = this._pending.get(id);
    if (p) {
      this._pending.delete(id);
      p.resolve(frames);
    }
  }
}

module.exports = { AppClient, AppError, NoReply, ERROR_NAMES };
