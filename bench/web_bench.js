// bench/web.sh's measurements (see there). node bench/web_bench.js CONFIG.json
// CONFIG: {base, key, chromium, thefts: [txid...], requests, nodes}
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(path.join(__dirname, "..", "web", "node_modules", "playwright-core"));

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const H = { "X-API-Key": cfg.key, "Content-Type": "application/json" };

async function post(p, body) {
  const r = await fetch(cfg.base + "/v1/" + p, { method: "POST", headers: H, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(p + ": " + r.status + " " + (await r.text()));
  return r.json();
}

function outputsOf(n, forward) {
  return n.outputs.filter((o) => o.taint > 0 && (!forward || o.spent))
    .sort((a, b) => b.taint - a.taint).slice(0, 1000)
    .map((o) => ({ output: o.output, taint: o.taint }));
}

function pct(v, q) {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}
const median = (v) => pct(v, 0.5);

async function main() {
  // 1. the requests: a breadth-first walk from each theft, forward and backward hops of every
  // node reached, as a user clicking through the graph would ask them; the answers' nodes and
  // edges are kept for the rendering test
  const reqs = [], graphNodes = new Map(), graphEdges = [];
  const queue = [];
  for (const t of cfg.thefts) {
    const d = await post("graph/start", { from: t });
    for (const n of d.nodes) { queue.push([n, 0]); graphNodes.set(n.id, [n, 0]); }
  }
  const seen = new Set();
  let walked = 0;
  while (queue.length && (reqs.length < cfg.requests || graphNodes.size < cfg.nodes) &&
         walked < 5000) {
    const [n, depth] = queue.shift();
    if (seen.has(n.id)) continue;
    seen.add(n.id);
    for (const dir of ["forward", "backward"]) {
      const outs = outputsOf(n, dir === "forward");
      if (!outs.length) continue;
      const body = { direction: dir, policy: "haircut", outputs: outs };
      const d = await post("graph/expand", body);
      walked++;
      if (reqs.length < cfg.requests) reqs.push(body);
      if (dir !== "forward") {
        for (const m of d.nodes) if (!graphNodes.has(m.id)) graphNodes.set(m.id, [m, depth - 1]);
        for (const e of d.edges) graphEdges.push(e);
        continue;
      }
      for (const m of d.nodes) {
        if (!graphNodes.has(m.id)) graphNodes.set(m.id, [m, depth + 1]);
        if (m.chain === "btc") queue.push([m, depth + 1]);
      }
      for (const e of d.edges) graphEdges.push(e);
    }
  }
  // 2. their latency, 3 rounds, with /v1/health as the reference measured in the same run
  const rounds = [];
  for (let r = 0; r < 3; r++) {
    const lat = [], ref = [];
    for (const b of reqs) {
      const t0 = performance.now();
      await post("graph/expand", b);
      lat.push(performance.now() - t0);
      const t1 = performance.now();
      await (await fetch(cfg.base + "/v1/health")).json();
      ref.push(performance.now() - t1);
    }
    rounds.push({ p50: pct(lat, 0.5), p99: pct(lat, 0.99), max: Math.max(...lat),
      ref_p50: pct(ref, 0.5), ref_p99: pct(ref, 0.99) });
  }
  // heavy requests: the newest 1000 outputs of labelled service addresses (exchange hot
  // wallets), expanded forward and backward: the most a click can ask of one hop
  const heavy = [];
  for (const a of cfg.heavy || []) {
    const d = await post("graph/start", { from: a, limit: 1000 });
    for (const n of d.nodes)
      for (const dir of ["forward", "backward"]) {
        const outs = outputsOf(n, dir === "forward");
        if (outs.length) heavy.push({ direction: dir, policy: "haircut", outputs: outs });
      }
  }
  const hrounds = [];
  for (let r = 0; r < 3 && heavy.length; r++) {
    const lat = [];
    for (const b of heavy) {
      const t0 = performance.now();
      await post("graph/expand", b);
      lat.push(performance.now() - t0);
    }
    hrounds.push({ p50: pct(lat, 0.5), max: Math.max(...lat) });
  }
  if (heavy.length)
    console.log(JSON.stringify({ heavy: { requests: heavy.length,
      seeds: heavy.map((b) => b.outputs.length), rounds: hrounds,
      max_median: median(hrounds.map((r) => r.max)) } }));
  const sizes = reqs.map((b) => b.outputs.length);
  console.log(JSON.stringify({ expand: { requests: reqs.length, seeds_median: median(sizes),
    seeds_max: Math.max(...sizes), rounds,
    p50_median: median(rounds.map((r) => r.p50)), p99_median: median(rounds.map((r) => r.p99)),
    health_p99_median: median(rounds.map((r) => r.ref_p99)) } }));

  // 3. a graph of cfg.nodes nodes drawn in Chromium: the walk's nodes (more walked if needed)
  const nodes = [...graphNodes.values()].slice(0, cfg.nodes);
  const ids = new Set(nodes.map(([n]) => n.id));
  const edges = graphEdges.filter((e) => ids.has(e.from) && ids.has(e.to));
  if (cfg.dump) fs.writeFileSync(cfg.dump, JSON.stringify({ nodes, edges }));
  const browser = await chromium.launch({ executablePath: cfg.chromium, args: ["--no-sandbox"] });
  const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  await page.goto(cfg.base + "/");
  await page.evaluate((k) => { sessionStorage.setItem("ct_key", k); }, cfg.key);
  await page.evaluate(() => CT.api("whoami").then((w) => CT.session.set(sessionStorage.getItem("ct_key"), w)));
  await page.goto(cfg.base + "/#/graph");
  await page.waitForSelector("#cy");
  const render = [];
  for (const count of [100, nodes.length]) {
    const times = [];
    for (let r = 0; r < 3; r++) {
      const ms = await page.evaluate(async ([ns, es]) => {
        const g = CT.graph;
        g.nodes.clear();
        g.edges.clear();
        /* every node drawn: the walk's nodes are all start nodes here, so a column of more
         * than 8 would otherwise be one group (docs/webui.md, "Groups") */
        g.groupMax = Infinity;
        for (const [n, depth] of ns) g.addNode(n, null, depth, null);
        for (const e of es) if (g.nodes.has(e.from) && g.nodes.has(e.to)) g.addEdge(e, null);
        /* an empty drawing first: draw() keeps elements it already has, and each run must
         * draw the whole graph as a page opening it does */
        g.cy.elements().remove();
        g.big = false;
        g.paintUnder();
        const frame = () => new Promise((res) => requestAnimationFrame(() => res()));
        await frame();
        await frame();
        const t0 = performance.now();
        g.draw(true);
        await frame();
        await frame();
        return performance.now() - t0;
      }, [nodes.slice(0, count), edges]);
      times.push(ms);
    }
    const drawn = await page.evaluate(() => [CT.graph.cy.nodes().length, CT.graph.cy.edges().length,
      CT.graph.big, CT.graph.edges.size]);
    render.push({ nodes: count, drawn_nodes: drawn[0], drawn_edges: drawn[1], graph_edges: drawn[3], big: drawn[2], runs_ms: times,
      median_ms: median(times) });
  }
  await page.screenshot({ path: cfg.shot });
  await browser.close();
  console.log(JSON.stringify({ render }));
}

main().catch((e) => { console.error(e); process.exit(1); });
