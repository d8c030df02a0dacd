// A zeromq.js peer for ringwire's interop tests: peer.js ROLE (bind|connect) ENDPOINT
// Same scenarios as peer.py: prints "EP <endpoint>", runs ROLE, prints "OK" or exits 1.
const zmq = require("zeromq");
const [role, mode, ep0] = process.argv.slice(-3);
const SIZES = [0, 1, 255, 256, 1 << 20];
const payload = (n) => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) % 256; return b; };
const PAYLOADS = SIZES.map(payload);
const kinds = { pub: zmq.Publisher, sub: zmq.Subscriber, req: zmq.Request, rep: zmq.Reply, dealer: zmq.Dealer,
  router: zmq.Router, push: zmq.Push, pull: zmq.Pull, pair: zmq.Pair };
const check = (got, want, what) => { if (!Buffer.from(got).equals(want)) { console.error(`${what}: got ${got.length} bytes, want ${want.length}`); process.exit(1); } };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const opts = { linger: 2000 };
  if (role !== "pub" && role !== "push") opts.receiveTimeout = 15000;
  if (role !== "sub" && role !== "pull") opts.sendTimeout = 15000;
  if (role === "dealer") opts.routingId = "js-dealer";
  const s = new kinds[role](opts);
  if (role === "sub") s.subscribe("topic");
  let ep = ep0;
  if (mode === "bind") { await s.bind(ep); ep = s.lastEndpoint; } else { s.connect(ep); }
  console.log("EP " + ep);
  if (role === "pub") {
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
      for (const p of PAYLOADS) { await s.send(["other", "x"]); await s.send(["topic", p]); }
      await sleep(10);
    }
  } else if (role === "sub") {
    const seen = new Set();
    while (seen.size < PAYLOADS.length) {
      const [topic, body] = await s.receive();
      check(topic, Buffer.from("topic"), "topic");
      check(body, payload(body.length), "payload");
      seen.add(body.length);
    }
  } else if (role === "req" || role === "dealer" || role === "pair") {
    for (const p of PAYLOADS) {
      if (role === "dealer") {
        await s.send(["", p]);
        const [empty, back] = await s.receive();
        check(empty, Buffer.alloc(0), "delimiter");
        check(back, p, role);
      } else {
        await s.send(p);
        const [back] = await s.receive();
        check(back, p, role);
      }
    }
  } else if (role === "rep" || role === "router") {
    for (const _ of PAYLOADS) { const frames = await s.receive(); await s.send(frames); }
  } else if (role === "push") {
    for (const p of PAYLOADS) await s.send(["part", p]);
  } else if (role === "pull") {
    for (const p of PAYLOADS) {
      const [part, body] = await s.receive();
      check(part, Buffer.from("part"), "first frame");
      check(body, p, "pull");
    }
  }
  console.log("OK");
  await sleep(300);
  s.close();
  process.exit(0);
}
main().catch((e) => { console.error(e); process.exit(1); });
