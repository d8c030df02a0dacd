// A Node.js peer of ringwire's apps tests, on clients/node (same modes as apps_peer.py):
//   node apps_peer.js basic EP | mixed EP CLIENTS REQUESTS PUBLISHES | restart EP CLIENTS | bench EP REQUESTS
"use strict";
const { AppClient, AppError, NoReply } = require(process.env.RINGWIRE_APPS_NODE);
// `node -e SCRIPT -- ARGS` gives [node, ARGS...], `node apps_peer.js ARGS` [node, file, ARGS...].
const args = process.argv.slice(process.argv.findIndex((a) => ["basic", "mixed", "restart", "bench"].includes(a)));
const [mode, ep] = args;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fail = (what) => { console.log("FAIL", what); process.exit(1); };
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
async function waitFor(cond, ms = 60000) {
  const deadline = Date.now() + ms;
  while (!cond()) { if (Date.now() > deadline) return false; await sleep(5); }
  return true;
}
const quiet = () => {};

async function main() {
  if (mode === "basic") {
    const c = new AppClient("bench", ep, { timeout: 10000, log: quiet });
    await c.connect();
    if (!same(await c.sendRequest("echo", { action: "get_data", n: 1 }), { action: "get_data", n: 1 })) fail("echo");
    if ((await c.sendRequest("ping", null, "other")) !== "pong") fail("per-call app");
    for (const [a, code] of [[["nope", {}], 3], [["echo", {}, "noapp"], 2], [["news", {}], 5], [["echo", "x".repeat(5000)], 4]]) {
      try { await c.sendRequest(...a); fail(`no error for ${a}`); } catch (e) {
        if (!(e instanceof AppError) || e.code !== code) fail(`code for ${a}: ${e}`);
      }
    }
    const got = [];
    await c.subscribe("news", (m) => got.push(m.payload));
    if ((await c.publish("news", { k: 1 })) !== 1) fail("publish count");
    if (!(await waitFor(() => same(got, [{ k: 1 }])))) fail(`publish delivery ${JSON.stringify(got)}`);
    await c.notify("audit", { who: "node" });
    await c.unsubscribe("news");
    if ((await c.publish("news", { k: 2 })) !== 0) fail("publish after unsubscribe");
    try { await c.unsubscribe("news"); fail("second unsubscribe"); } catch (e) { if (e.code !== 8) fail(`unsubscribe: ${e}`); }
    c.disconnect();
    try {
      await new AppClient("bench", "tcp://127.0.0.1:1", { timeout: 100, retries: 1, log: quiet }).connect();
      fail("connect to nothing");
    } catch (e) { if (!(e instanceof NoReply)) fail(`connect to nothing: ${e}`); }
    console.log("OK");
  } else if (mode === "mixed") {
    const [n, requests, publishes] = args.slice(2, 5).map(Number);
    const clients = [], got = [];
    for (let i = 0; i < n; i++) {
      const c = new AppClient("bench", ep, { timeout: 20000, log: quiet });
      await c.connect();
      const mine = [];
      got.push(mine);
      await c.subscribe("news", (m) => mine.push(m.payload.seq));
      clients.push(c);
    }
    console.log("SUBSCRIBED");
    await Promise.all(clients.map(async (c, i) => {
      for (let r = 0; r < requests; r++) {
        const q = { who: "js", client: i, n: r };
        if (!same(await c.sendRequest("echo", q), q)) fail("bad reply");
      }
    }));
    if (!(await waitFor(() => got.every((g) => g.length >= publishes), 120000))) fail(`publishes: ${got.map((g) => g.length)}`);
    await sleep(200);
    const want = [...Array(publishes).keys()];
    for (const g of got) if (!same(g, want)) fail(`publishes out of order, lost or doubled: ${g.slice(0, 10)}`);
    clients.forEach((c) => c.disconnect());
    console.log("OK", n * requests, n * publishes);
  } else if (mode === "restart") {
    const n = Number(args[2]);
    const clients = [], got = [];
    for (let i = 0; i < n; i++) {
      const c = new AppClient("bench", ep, { timeout: 5000, retries: 20, heartbeat: 50, log: quiet });
      await c.connect();
      const mine = [];
      got.push(mine);
      await c.subscribe("news", (m) => mine.push(m.payload.phase));
      clients.push(c);
    }
    console.log("SUBSCRIBED");
    if (!(await waitFor(() => got.every((g) => g.includes(2)), 120000))) fail(`phase 2 never came: ${JSON.stringify(got)}`);
    for (const c of clients) {
      if (!same(await c.sendRequest("echo", { after: "restart" }), { after: "restart" })) fail("request after restart");
      if (c.resubscriptions < 1) fail("no resubscription");
    }
    clients.forEach((c) => c.disconnect());
    console.log("OK");
  } else if (mode === "bench") {
    const requests = Number(args[2]);
    const c = new AppClient("bench", ep, { timeout: 10000, log: quiet });
    await c.connect();
    const q = { n: 1 };
    for (let i = 0; i < Math.min(1000, requests); i++) await c.sendRequest("echo", q);
    const lat = [];
    for (let i = 0; i < requests; i++) {
      const t = process.hrtime.bigint();
      await c.sendRequest("echo", q);
      lat.push(Number(process.hrtime.bigint() - t));
    }
    lat.sort((a, b) => a - b);
    const p = (f) => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))] / 1000;
    console.log(`RESULT p50_us=${p(0.5).toFixed(1)} p99_us=${p(0.99).toFixed(1)}`);
    c.disconnect();
    console.log("OK");
  } else fail(`unknown mode ${mode}`);
  process.exit(0);
}
main().catch((e) => { console.log("FAIL", e.stack); process.exit(1); });
