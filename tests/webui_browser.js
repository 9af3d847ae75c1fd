// The web UI in a real browser (tests/e2e_webui.sh): Debian's Chromium, headless, driven by
// playwright-core from web/node_modules (which downloads no browser). Reads a JSON file of
// what to expect (tests/webui_oracle.py: the generator's truth and the blocks decoded by
// python3-bitcoinlib) and prints one line per check: "ok NAME" or "FAIL NAME: why".
//
//   node tests/webui_browser.js CONFIG.json
// CONFIG: {base, chromium, shots, keys: {read, analyst, admin}, expect, download_dir}
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require(path.join(__dirname, "..", "web", "node_modules", "playwright-core"));

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const X = cfg.expect;
let failed = 0;
function check(name, cond, why) {
  if (cond) console.log("ok " + name);
  else { failed++; console.log("FAIL " + name + ": " + (why || "")); }
}

async function main() {
  const browser = await chromium.launch({ executablePath: cfg.chromium,
    args: ["--no-sandbox", "--disable-gpu"] });
  const context = await browser.newContext({ viewport: { width: 1500, height: 950 },
    acceptDownloads: true });
  // every CSP violation and dialog is recorded: any is a failure
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__csp.push(e.violatedDirective + " " + e.blockedURI));
  });
  const page = await context.newPage();
  // a loaded machine (or an ASan build of the service) is slow: generous waits, never a pass
  page.setDefaultTimeout(90000);
  const dialogs = [], errors = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  const shot = (name) => page.screenshot({ path: path.join(cfg.shots, name + ".png") });
  const base = cfg.base;
  const text = (sel) => page.locator(sel).first().textContent();

  // --- sign-in: required, a bad key refused, the read key accepted and kept per tab only
  await page.goto(base + "/#/tx/" + X.theft_txid);
  await page.waitForSelector("#signin");
  check("unsigned visit goes to sign-in", page.url().endsWith("#/signin"), page.url());
  await page.fill("#apikey", "not-a-key-not-a-key");
  await page.click("#signin-button");
  await page.waitForFunction(() => document.querySelector("#signin-error").textContent.length > 0);
  check("a bad key is refused", /not valid/.test(await text("#signin-error")));
  await page.fill("#apikey", cfg.keys.read);
  await page.click("#signin-button");
  await page.waitForFunction(() => document.querySelector("#who").dataset.role === "read");
  check("signed in as read", (await text("#who")).includes("read"));
  const stored = await page.evaluate(() => [sessionStorage.getItem("ct_key"), localStorage.length,
    document.cookie]);
  check("key in sessionStorage only, no cookie", stored[0] === cfg.keys.read && stored[1] === 0 &&
    stored[2] === "", JSON.stringify(stored));

  // --- search: the theft by txid, by actor
  await page.fill("#q", X.theft_txid);
  await page.press("#q", "Enter");
  await page.waitForSelector("#results");
  check("search finds the theft tx", (await text("#results")).includes(X.theft_txid.slice(0, 10)));
  await page.fill("#q", "Lazarus");
  await page.press("#q", "Enter");
  await page.waitForFunction(() => document.querySelector("#search-query") &&
    document.querySelector("#search-query").textContent === "Lazarus" &&
    document.querySelector("#results"));
  check("search finds the actor", (await text("#results")).includes("Lazarus Group"));
  await shot("search");
  // --- search for 0x ids (the EVM store): listed with their kind and block, each with a link
  // that opens the graph from it
  const searchRows = async (q) => {
    await page.fill("#q", q);
    await page.press("#q", "Enter");
    await page.waitForFunction((x) => document.querySelector("#search-query") &&
      document.querySelector("#search-query").textContent === x &&
      (document.querySelector("#results") || document.querySelector("#no-results")), q);
    return page.$$eval("#results tbody tr", (trs) => trs.map((tr) => ({
      cells: [...tr.cells].map((c) => c.textContent),
      links: [...tr.querySelectorAll("a")].map((a) => [a.textContent, a.getAttribute("href")]) })));
  };
  if (X.xchain) {
    const txRows = await searchRows(X.xchain.inbound_tx);
    await shot("search-evm-tx");
    const txRow = txRows.find((r) => r.cells[0] === "evm_tx");
    check("search: a 0x tx hash is listed with its block and cross-chain link", txRow &&
      txRow.cells[1].toLowerCase() === X.xchain.inbound_tx.toLowerCase() &&
      /^eth block \d+, [1-9]\d* cross-chain link\(s\)$/.test(txRow.cells[2]), JSON.stringify(txRows));
    const rows = await searchRows(X.xchain.inbound_from);
    await shot("search-evm");
    const addrRow = rows.find((r) => r.cells[0] === "evm_address");
    const gl = addrRow && addrRow.links.find((l) => l[0] === "graph");
    check("search: a 0x address is listed with a graph link", addrRow &&
      addrRow.cells[1].toLowerCase() === X.xchain.inbound_from.toLowerCase() && gl &&
      decodeURIComponent(gl[1].split("from=")[1] || "").toLowerCase() === X.xchain.inbound_from.toLowerCase(),
    JSON.stringify(rows));
    if (gl) {
      await page.click(`#results a[href="${gl[1]}"]`);
      const evmNode = "eth:" + X.xchain.inbound_from.toLowerCase();
      await page.waitForFunction((id) => (CT.graph && !CT.graph.loading && CT.graph.nodes.has(id)) ||
        document.querySelector("#notfound"), evmNode, { timeout: 60000 });
      check("search: the 0x result's graph link opens the graph from it", await page.evaluate((id) =>
        !document.querySelector("#notfound") && CT.graph.nodes.get(id).root, evmNode), page.url());
      await shot("search-evm-graph");
    }
  }

  // --- tx and address pages against the blocks
  await page.goto(base + "/#/tx/" + X.theft_txid);
  await page.waitForSelector("#tx-outputs");
  const outSats = await page.$$eval("#tx-outputs .amount", (els) => els.map((e) => Number(e.dataset.sats)));
  check("tx page: output values", JSON.stringify(outSats) === JSON.stringify(X.sources.map((s) => s.value)),
    JSON.stringify(outSats));
  await page.goto(base + "/#/address/" + X.sources[0].address);
  await page.waitForSelector("#addr-received");
  check("address page: received", Number(await page.$eval("#addr-received .amount", (e) => e.dataset.sats)) ===
    X.sources[0].value);

  // --- the graph from the theft: start nodes hold what was stolen, the victim is named
  await page.goto(base + "/#/graph?from=" + X.theft_txid);
  await page.waitForFunction(() => CT.graph && CT.graph.nodes.size >= 2 && CT.graph.edges.size >= 1, null,
    { timeout: 60000 });
  await page.waitForTimeout(300);
  await shot("graph-start");
  const start = await page.evaluate(() => [...CT.graph.nodes.values()].filter((n) => n.depth === 0)
    .map((n) => ({ id: n.id, amount: CT.graph.amountOf(n), outs: [...n.outputs.keys()] })));
  const startSum = start.reduce((a, n) => a + n.amount, 0);
  check("graph start holds the stolen amount", startSum === X.stolen, startSum + " != " + X.stolen);
  const victim = await page.evaluate(() => [...CT.graph.nodes.values()].filter((n) => n.depth === -1)
    .map((n) => n.name));
  check("the victim is named by its actor", victim.includes(X.victim), JSON.stringify(victim));

  // click the node holding the biggest stolen output (a real click on the canvas)
  const clickNode = async (id) => {
    const p = await page.evaluate((nid) => {
      const el = CT.graph.cy.getElementById(nid);
      CT.graph.cy.center(el);
      const r = el.renderedPosition();
      const b = document.getElementById("cy").getBoundingClientRect();
      return { x: b.left + r.x, y: b.top + r.y };
    }, id);
    await page.mouse.click(p.x, p.y);
    await page.waitForFunction((nid) => document.querySelector("#side-id") &&
      document.querySelector("#side-id").textContent === nid, id);
  };
  // the view: a real drag on the background pans it (as a user does); which drawn nodes lie
  // outside it; a node's label size on the screen
  const emptySpot = () => page.evaluate(() => {
    const cy = CT.graph.cy, b = document.getElementById("cy").getBoundingClientRect();
    const boxes = cy.nodes().not(".lane").map((n) => n.renderedBoundingBox());
    for (let y = 40; y < b.height - 40; y += 20)
      for (let x = 40; x < b.width - 40; x += 20)
        if (!boxes.some((q) => x >= q.x1 - 10 && x <= q.x2 + 10 && y >= q.y1 - 10 && y <= q.y2 + 10))
          return { x: b.left + x, y: b.top + y };
    return null;
  });
  const drag = async (dx, dy) => {
    const p = await emptySpot();
    await page.mouse.move(p.x, p.y);
    await page.mouse.down();
    for (let i = 1; i <= 6; i++) await page.mouse.move(p.x + dx * i / 6, p.y + dy * i / 6);
    await page.mouse.up();
    await page.waitForTimeout(100);
  };
  const viewport = () => page.evaluate(() => JSON.stringify([CT.graph.cy.zoom(), CT.graph.cy.pan()]));
  const inView = () => page.evaluate(() => {
    const cy = CT.graph.cy, w = cy.width(), h = cy.height();
    const ns = cy.nodes().not(".lane");
    const out = ns.filter((n) => {
      const q = n.renderedBoundingBox({ includeLabels: false, includeOverlays: false });
      return q.x1 < -1 || q.y1 < -1 || q.x2 > w + 1 || q.y2 > h + 1;
    }).map((n) => n.id());
    return { n: ns.length, out, minFont: Math.min(...ns.map((n) => parseFloat(n.renderedStyle("font-size")))) };
  });
  const big = start.find((n) => n.outs.includes(X.hop.from));
  await clickNode(big.id);
  // a manual pan is the user's: the expansion below must not undo it (no re-fit)
  const vpBefore = await viewport();
  await drag(-150, 80);
  const vpPanned = await viewport();
  const sideSats = Number(await page.$eval(`#side-outputs .amount[data-output="${X.hop.from}"]`,
    (e) => e.dataset.sats));
  const bigValue = X.sources.find((s) => s.output === X.hop.from).value;
  check("side panel: the stolen output's taint", sideSats === bigValue, sideSats + " != " + bigValue);
  check("side panel: hostile actor shown as text", (await text("#side-title")) ===
    "<script>alert(1)</script>", await text("#side-title"));

  // --- expand one hop forward: the split of the taint against the oracle's haircut
  const before = await page.evaluate(() => CT.graph.nodes.size);
  await page.click("#btn-next");
  await page.waitForFunction((n) => CT.graph.nodes.size > n, before, { timeout: 60000 });
  await page.waitForTimeout(300);
  await shot("graph-expanded");
  check("a manual pan is not undone by an expansion", vpPanned !== vpBefore &&
    await viewport() === vpPanned, vpBefore + " -> " + vpPanned + " -> " + await viewport());
  const vOut = await inView(), hint = await text("#graph-stats");
  check("the nodes the kept view does not show are said, with \"Fit\"", vOut.out.length > 0 ?
    hint.includes(vOut.out.length + " nodes outside the view") : !hint.includes("outside"),
  JSON.stringify([vOut.out, hint]));
  await page.click("#graph-fit"); /* the user's "Fit": later changes may re-fit again */
  check("\"Fit\" shows every node", (await inView()).out.length === 0 &&
    !(await text("#graph-stats")).includes("outside"));
  const got = await page.evaluate(() => {
    const m = {};
    for (const n of CT.graph.nodes.values())
      for (const o of n.outputs.values()) m[o.output] = [...o.by.values()].reduce((a, b) => a + b, 0);
    return m;
  });
  let hopOk = true, hopWhy = "";
  for (const [op, v] of Object.entries(X.hop.outputs)) {
    if (got[op] !== v) { hopOk = false; hopWhy += `${op}: ${got[op]} != ${v}; `; }
  }
  check("expand: each output's taint = the haircut split", hopOk, hopWhy);
  const fee = await page.evaluate((id) => CT.graph.nodes.get(id).fees, big.id);
  check("expand: the fee's share", fee === X.hop.fee, fee + " != " + X.hop.fee);
  const edgeSum = await page.evaluate((id) => [...CT.graph.edges.values()]
    .filter((e) => e.from === id && e.tx).reduce((a, e) => a + (e.owner === id ? e.amount : 0), 0), big.id);
  check("expand: edges + fee = the node's taint", edgeSum + fee === bigValue, `${edgeSum} + ${fee}`);
  // the edge's amount is what the canvas label shows
  const label = await page.evaluate((id) => CT.graph.cy.edges().filter((e) => e.source().id() === id)
    .map((e) => e.data("label")), big.id);
  const firstOut = Object.values(X.hop.outputs)[0];
  const btc = (s) => (BigInt(s).toString().padStart(9, "0").replace(/(\d{8})$/, ".$1")) + " BTC";
  check("expand: edge labels show the amounts", label.some((l) => l.startsWith(btc(firstOut))) ||
    label.length > 0 && Object.values(X.hop.outputs).length > 1, JSON.stringify(label));

  // a second hop from a child, its evidence path, then collapse
  const child = await page.evaluate((op) => [...CT.graph.nodes.values()]
    .find((n) => n.outputs.has(op)).id, Object.keys(X.hop.outputs)[0]);
  await clickNode(child);
  const nBefore2 = await page.evaluate(() => CT.graph.nodes.size);
  await page.dblclick("#cy", { position: await page.evaluate((nid) => {
    const r = CT.graph.cy.getElementById(nid).renderedPosition();
    return { x: r.x, y: r.y };
  }, child) }).catch(() => {});
  await page.waitForFunction((n) => CT.graph.nodes.size > n || CT.graph.nodes.get(
    CT.graph.selected).expanded.forward, nBefore2, { timeout: 60000 });
  const v2 = await inView();
  check("an expansion that reached outside the view re-fits it (the user had not moved it)",
    v2.n > 2 && v2.out.length === 0, JSON.stringify(v2));
  const grand = await page.evaluate((c) => {
    const n = [...CT.graph.nodes.values()].find((x) => x.parent === c);
    return n ? n.id : null;
  }, child);
  if (grand) {
    await clickNode(grand);
    const steps = await page.$$eval("#side-path li", (els) => els.length);
    check("evidence path: start, theft, hop, hop", steps >= 4, "steps " + steps);
  } else {
    check("second hop reached a node", false, "no grandchild of " + child);
  }
  await shot("graph-two-hops");
  await clickNode(child);
  await page.click("#btn-collapse");
  const after = await page.evaluate((c) => [...CT.graph.nodes.values()].filter((x) => x.parent === c).length,
    child);
  check("collapse removes what the expansion added", after === 0, "left " + after);
  // the drawing follows the state: what a collapse removed is gone from the canvas too
  // (a group node stands for the nodes it holds, one edge per pair of drawn ends for theirs)
  const drawn = await page.evaluate(() => {
    const g = CT.graph, L = g.lay && g.lay.groups ? g.lay : { hidden: new Map(), groups: new Map() };
    return [g.cy.nodes().not(".lane").length, g.nodes.size - L.hidden.size + L.groups.size,
      g.cy.edges().length, L.groups.size ? L.edges.filter((e) => e.from !== e.to).length
        : [...g.edges.values()].filter((e) => e.from !== e.to).length];
  });
  check("collapse: drawn nodes and edges = the graph's", drawn[0] === drawn[1] && drawn[2] === drawn[3],
    JSON.stringify(drawn));
  await shot("graph-collapsed");
  const v3 = await inView();
  check("after a collapse every drawn node lies inside the view", v3.n >= 2 && v3.out.length === 0,
    JSON.stringify(v3));
  const z0 = await page.evaluate(() => CT.graph.cy.zoom());
  await page.mouse.move(700, 500);
  await page.mouse.wheel(0, -400);
  await page.waitForTimeout(200);
  const z1 = await page.evaluate(() => CT.graph.cy.zoom());
  check("zoom with the wheel", z1 !== z0, `${z0} -> ${z1}`);

  // --- a cross-chain hop: the Bitcoin output of an EVM swap, expanded backward, reaches the
  // EVM inbound tx (the truth's xchain_link) in the Ethereum lane
  if (X.xchain) {
    await page.goto(base + "/#/graph?from=" + X.xchain.output);
    await page.waitForFunction(() => CT.graph && CT.graph.nodes.size >= 1);
    const first = await page.evaluate(() => CT.graph.nodes.keys().next().value);
    await clickNode(first);
    await page.click("#btn-prev");
    await page.waitForFunction(() => [...CT.graph.nodes.values()].some((n) => n.chain !== "btc"),
      null, { timeout: 60000 });
    const xc = await page.evaluate(() => {
      const e = [...CT.graph.edges.values()].find((x) => x.kind === "cross_chain");
      const lanes = CT.graph.cy.nodes(".lane").map((n) => [n.id(), n.position("y")]);
      return { e, lanes, foreign: [...CT.graph.nodes.values()].filter((n) => n.chain !== "btc").map((n) => n.id) };
    });
    // the service has the EVM store: the inbound tx's sender is an address node (expandable)
    const evmId = "eth:" + X.xchain.inbound_from.toLowerCase();
    check("cross-chain: the EVM inbound tx's sender is a node of another lane",
      xc.foreign.includes(evmId) && xc.lanes.length === 2 &&
      xc.lanes.find((l) => l[0] === "lane:eth")[1] > xc.lanes.find((l) => l[0] === "lane:btc")[1],
    JSON.stringify(xc.lanes) + " " + JSON.stringify(xc.foreign));
    check("cross-chain: the hop's tx, amount and method are the truth's", xc.e &&
      xc.e.tx === X.xchain.inbound_tx && xc.e.amount === String(X.xchain.amount) &&
      xc.e.method === X.xchain.method && xc.e.from === evmId, JSON.stringify(xc.e));
    await shot("graph-lanes");
    // the EVM node: named by its (hostile) label as text, expanded to its next hops in the page
    await clickNode(evmId);
    check("EVM node: a hostile actor on a 0x address shown as text",
      (await text("#side-title")) === "<img src=x onerror=alert(5)>", await text("#side-title"));
    const n0 = await page.evaluate(() => CT.graph.nodes.size);
    await page.click("#btn-next");
    await page.waitForFunction((id) => CT.graph.nodes.get(id).expanded.forward, evmId, { timeout: 60000 });
    const ev = await page.evaluate((id) => {
      const es = [...CT.graph.edges.values()].filter((e) => e.from === id && e.kind === "transfer");
      const dep = es.find((e) => e.patterns.includes("swap"));
      const router = dep && CT.graph.nodes.get(dep.to);
      return { n: CT.graph.nodes.size, dep, endpoint: router && router.endpoint,
        label: dep ? CT.graph.cy.getElementById(dep.id).data("label") : null,
        rows: document.querySelectorAll("#side-transfers tbody tr").length };
    }, evmId);
    check("EVM node: next hops include the THORChain deposit, marked swap, into a service",
      ev.n > n0 && ev.dep && ev.dep.tx === X.xchain.inbound_tx && ev.endpoint === true,
    JSON.stringify(ev));
    /* the node holds the receipts that explain its deposit (haircut backward): what it passes
     * on is part of the deposit, shown exactly in ETH's 18 decimals */
    const ethText = (wei) => {
      const w = BigInt(wei), u = 10n ** 18n;
      const frac = (w % u).toString().padStart(18, "0").replace(/0+$/, "");
      return (w / u).toString() + (frac ? "." + frac : "") + " ETH";
    };
    check("EVM node: the deposit's taint is part of the truth's amount, shown in ETH's decimals",
      ev.dep && BigInt(ev.dep.amount) > 0n && BigInt(ev.dep.amount) <= BigInt(X.xchain.inbound_amount) &&
      ev.label === ethText(ev.dep.amount) + " · swap", JSON.stringify([ev.dep && ev.dep.amount, ev.label]));
    check("EVM node: its tainted transfers in the side panel", ev.rows > 0, ev.rows);
    if (ev.dep) {
      /* the router's evidence path: from the Bitcoin output back over the link, then the deposit */
      await page.evaluate((id) => CT.graph.select(id), ev.dep.to);
      const path = await page.$$eval("#side-path li", (lis) => lis.map((li) => li.textContent));
      check("EVM node: the evidence path of the router runs over the EVM deposit", path.length >= 2 &&
        path.some((t) => t.startsWith("eth tx ") && t.includes(ev.label.split(" · ")[0])),
      JSON.stringify(path));
      await page.evaluate((id) => CT.graph.select(id), evmId);
    }
    await shot("graph-evm");
    await page.click("#btn-collapse");
    const nc = await page.evaluate(() => CT.graph.nodes.size);
    check("EVM node: collapse removes what its expansion added", nc === n0, nc + " != " + n0);
  } else {
    check("the generated chain has a cross-chain hop", false);
  }

  // --- a big graph (over 300 nodes) is drawn for speed: edges and lanes on a canvas under the
  // nodes, labels once readable; selecting, the PNG and collapse still work
  const bigG = await page.evaluate(async () => {
    const g = CT.graph;
    const frame = () => new Promise((res) => requestAnimationFrame(() => res()));
    const painted = () => {
      const c = g.under, d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) n += d[i] > 0;
      return n;
    };
    g.nodes.clear();
    g.edges.clear();
    const depth = [0];
    for (let i = 0; i < 400; i++) {
      const parent = i ? Math.floor((i - 1) / 3) : -1;
      if (i) depth[i] = depth[parent] + 1;
      g.addNode({ id: "n" + i, chain: "btc", entity: i, size: 1, outputs: [{ output: "ab".repeat(32) +
        ":" + i, value: 5000, taint: 5000, spent: true }] }, i ? "n" + parent : null, depth[i], null);
      if (i) g.addEdge({ from: "n" + parent, to: "n" + i, tx: "cd".repeat(32), height: 1, amount: 5000,
        patterns: i % 4 ? [] : ["coinjoin"] }, "n" + parent);
    }
    g.draw(true);
    await frame();
    const r = { big: g.big, nodes: g.cy.nodes().length, edges: g.cy.edges().length, painted: painted(),
      nolabel: g.cy.nodes(".nolabel").length };
    g.cy.zoom({ level: 1, renderedPosition: g.cy.getElementById("n7").renderedPosition() });
    await frame();
    await frame();
    r.nolabelZoomed = g.cy.nodes(".nolabel").length;
    r.paintedZoomed = painted();
    const png = await g.toPNG();
    const img = await createImageBitmap(png);
    r.png = [png.type, img.width, img.height];
    g.select("n7");
    r.title = document.querySelector("#side-title").textContent;
    g.collapse("n0");
    await frame();
    r.after = [g.nodes.size, g.cy.nodes().not(".lane").length, g.big, painted()];
    /* what is left is in view (re-fitted), its label readable, not an empty canvas */
    const n0 = g.cy.getElementById("n0"), q = n0.renderedBoundingBox({ includeLabels: false });
    r.afterView = [q.x1 >= 0 && q.y1 >= 0 && q.x2 <= g.cy.width() && q.y2 <= g.cy.height(),
      parseFloat(n0.renderedStyle("font-size"))];
    return r;
  });
  check("big graph: nodes drawn by cytoscape, edges under them", bigG.big && bigG.nodes === 400 &&
    bigG.edges === 0 && bigG.painted > 1000, JSON.stringify(bigG));
  check("big graph: labels off when unreadable, on when zoomed in", bigG.nolabel === 400 &&
    bigG.nolabelZoomed === 0 && bigG.paintedZoomed > 1000, JSON.stringify(bigG));
  check("big graph: PNG of nodes and edges", bigG.png[0] === "image/png" && bigG.png[1] > 100 &&
    bigG.png[2] > 100, JSON.stringify(bigG.png));
  check("big graph: select and collapse", bigG.title === "e7" && bigG.after[0] === 1 &&
    bigG.after[1] === 1 && !bigG.after[2] && bigG.after[3] === 0, JSON.stringify(bigG));
  check("big graph: after the collapse, what is left is in view and readable (re-fitted)",
    bigG.afterView[0] && bigG.afterView[1] >= 9, JSON.stringify(bigG.afterView));
  await shot("graph-big-collapsed");

  // --- a lane of 60 receivers: at the fitted view every drawn label is readable (>= 9 px);
  // the 7 biggest receivers are drawn, the other 53 grouped into one "+53 more" node that shows
  // them on demand
  const wide = await page.evaluate(async () => {
    const g = CT.graph;
    const frame = () => new Promise((res) => requestAnimationFrame(() => res()));
    g.nodes.clear();
    g.edges.clear();
    if (g.shown) g.shown.clear();
    g.addNode({ id: "r", chain: "btc", entity: 999, size: 1, outputs: [{ output: "ef".repeat(32) + ":0",
      value: 1e8, taint: 1e8, spent: true }] }, null, 0, null);
    /* amounts in a scrambled order: the drawn ones must be the biggest, not the first */
    for (let i = 0; i < 60; i++) {
      const v = 10000 + ((i * 37) % 60) * 1000;
      g.addNode({ id: "w" + i, chain: "btc", entity: 1000 + i, size: 1, outputs: [{ output: "12".repeat(32) +
        ":" + i, value: v, taint: v, spent: true }] }, "r", 1, null);
      g.addEdge({ from: "r", to: "w" + i, tx: "12".repeat(32), height: 5, amount: v, patterns: ["split"] }, "r");
    }
    g.draw(true);
    await frame();
    const ns = g.cy.nodes().not(".lane");
    const w = g.cy.width(), h = g.cy.height();
    const grp = ns.filter(".group");
    return { drawn: ns.map((n) => n.id()), groupLabel: grp.length === 1 ? grp[0].data("label") : null,
      groupId: grp.length === 1 ? grp[0].id() : null,
      fonts: ns.map((n) => parseFloat(n.renderedStyle("font-size"))),
      out: ns.filter((n) => { const q = n.renderedBoundingBox({ includeLabels: false });
        return q.x1 < 0 || q.y1 < 0 || q.x2 > w || q.y2 > h; }).map((n) => n.id()),
      edges: g.cy.edges().map((e) => e.data("label")) };
  });
  const wideAmounts = [...Array(60).keys()].map((i) => ({ id: "w" + i, v: 10000 + ((i * 37) % 60) * 1000 }))
    .sort((a, b) => b.v - a.v);
  const top7 = wideAmounts.slice(0, 7).map((x) => x.id).sort();
  const restSats = wideAmounts.slice(7).reduce((a, x) => a + x.v, 0);
  check("60 receivers: the 7 biggest drawn, the rest one group node with their sum",
    JSON.stringify(wide.drawn.filter((id) => id.startsWith("w")).sort()) === JSON.stringify(top7) &&
    wide.groupLabel === "+53 more\n" + btc(restSats), JSON.stringify(wide));
  check("60 receivers: at the fitted view every label is >= 9 px and every node in view",
    wide.fonts.length === 9 && Math.min(...wide.fonts) >= 9 && wide.out.length === 0, JSON.stringify(wide));
  check("60 receivers: the group's edge carries the count and sum", wide.edges.includes("53 edges: " +
    btc(restSats)), JSON.stringify(wide.edges));
  await shot("graph-wide-grouped");
  if (wide.groupId) {
    /* a real click on the group node */
    const p = await page.evaluate((nid) => {
      const r = CT.graph.cy.getElementById(nid).renderedPosition();
      const b = document.getElementById("cy").getBoundingClientRect();
      return { x: b.left + r.x, y: b.top + r.y };
    }, wide.groupId);
    await page.mouse.click(p.x, p.y);
    await page.waitForFunction(() => document.querySelector("#side-group"));
    const gtext = await text("#side-title");
    const grows = await page.$$eval("#side-group tbody tr", (trs) => trs.length);
    check("60 receivers: the group's panel lists what it holds", gtext === "+53 more" && grows === 53,
      gtext + " " + grows);
    await page.click("#btn-more");
    const more = await page.evaluate(() => [CT.graph.cy.nodes().not(".lane").length,
      document.querySelector("#side-title").textContent]);
    check("60 receivers: \"Show 7 more\" draws 7 more", more[0] === 16 && more[1] === "+46 more",
      JSON.stringify(more));
    await page.click("#btn-all");
    const all = await page.evaluate(() => [CT.graph.cy.nodes().not(".lane").length,
      CT.graph.cy.nodes(".group").length]);
    check("60 receivers: \"Show all\" draws all 61", all[0] === 61 && all[1] === 0, JSON.stringify(all));
    await shot("graph-wide-all");
    await page.evaluate(() => CT.graph.select("r"));
    await page.click("#btn-regroup");
    const re = await page.evaluate(() => [CT.graph.cy.nodes().not(".lane").length,
      Math.min(...CT.graph.cy.nodes().not(".lane").map((n) => parseFloat(n.renderedStyle("font-size"))))]);
    check("60 receivers: grouped again, re-fitted readable", re[0] === 9 && re[1] >= 9, JSON.stringify(re));
  } else {
    check("60 receivers: a group node to click", false);
  }
  // an EVM column: ranked in the asset most of its transfers are in (ETH here; amounts of
  // different assets do not compare), the group's sum exact in ETH's 18 decimals
  const evmWide = await page.evaluate(async () => {
    const g = CT.graph;
    g.nodes.clear();
    g.edges.clear();
    g.shown.clear();
    const tr = (x, asset, symbol, decimals, amount) => ({ xfer: x, transfer: "0x" + "ab".repeat(32) + ":" + x,
      asset, symbol, decimals, amount, taint: amount });
    g.addNode({ id: "eth:0x" + "00".repeat(20), chain: "eth", address: "0x" + "00".repeat(20),
      transfers: [tr(1, "native", "ETH", 18, "90000000000000000000")] }, null, 0, null);
    for (let i = 0; i < 14; i++) {
      const id = "eth:0x" + String(i + 1).padStart(40, "0");
      /* the first two hold USDT only: the most by count, but in another asset */
      const t = i < 2 ? tr(100 + i, "0xdac1", "USDT", 6, "900000000000")
        : tr(100 + i, "native", "ETH", 18, String(BigInt(i) * 10n ** 18n + 123n));
      g.addNode({ id, chain: "eth", address: id.slice(4), transfers: [t] }, "eth:0x" + "00".repeat(20), 1, null);
      g.addEdge({ from: "eth:0x" + "00".repeat(20), to: id, tx: "0x" + "cd".repeat(32), kind: "transfer",
        chain: "eth", asset: t.asset, symbol: t.symbol, decimals: t.decimals, amount: t.amount, patterns: [] },
      "eth:0x" + "00".repeat(20));
    }
    g.draw(true);
    const grp = g.cy.nodes(".group");
    return { drawn: g.cy.nodes().not(".lane").not(".group").map((n) => n.id()).sort(),
      label: grp.length === 1 ? grp[0].data("label") : null };
  });
  /* ETH receivers i = 2..13 hold i ETH + 123 wei: the 7 biggest are 7..13, the group holds
   * 2..6 (and the two USDT ones, 0 in ETH) */
  const ethSum = [2, 3, 4, 5, 6].reduce((a, i) => a + BigInt(i) * 10n ** 18n + 123n, 0n);
  const ethStr = (ethSum / 10n ** 18n).toString() + "." + (ethSum % 10n ** 18n).toString()
    .padStart(18, "0").replace(/0+$/, "") + " ETH";
  const evmTop = [7, 8, 9, 10, 11, 12, 13].map((i) => "eth:0x" + String(i + 1).padStart(40, "0"))
    .concat(["eth:0x" + "00".repeat(20)]).sort();
  check("EVM column: the 7 biggest in ETH drawn, the group's sums per asset exact", JSON.stringify(evmWide.drawn) ===
    JSON.stringify(evmTop) && evmWide.label === "+7 more\n" + ethStr + ", 1800000 USDT",
  JSON.stringify([evmWide, ethStr]));

  // --- hostile labels: text everywhere, nothing injected
  await page.goto(base + "/#/address/" + X.hostile_address);
  await page.waitForSelector("#addr-outputs");
  await page.goto(base + "/#/actor/" + encodeURIComponent('"><img src=x onerror=alert(2)>'));
  await page.waitForSelector("#actor-labels");
  await page.fill("#q", "hostile");
  await page.press("#q", "Enter");
  await page.waitForSelector("#results");
  const resultsText = await text("#results");
  check("hostile: search shows the markup as text", resultsText.includes("<script>alert(1)</script>") &&
    resultsText.includes('"><img src=x onerror=alert(2)>'), resultsText.slice(0, 200));
  await page.goto(base + "/#/labels/" + X.hostile_address);
  await page.waitForSelector(".label-url");
  const urls = await page.$$eval(".label-url", (els) => els.map((e) => e.textContent));
  check("hostile: a javascript: url is text, not a link", urls.includes(
    "javascript:alert(document.domain)") && (await page.$$("a[href^='javascript']")).length === 0,
  JSON.stringify(urls));
  await shot("hostile");
  const dom = await page.evaluate(() => ({ img: document.querySelectorAll("img").length,
    scripts: document.querySelectorAll("script").length,
    onerror: document.querySelectorAll("[onerror]").length }));
  check("hostile: no injected element", dom.img === 0 && dom.onerror === 0 && dom.scripts === 7,
    JSON.stringify(dom));

  // --- screening: paste, run, table, download; upload a CSV
  await page.goto(base + "/#/screen");
  await page.waitForSelector("#screen-input");
  const items = [X.sources[0].address, X.sources[1].address, X.theft_txid, "1BogusAddressThatDoesNotExistXXXX"];
  await page.fill("#screen-input", "address,note\n" + items.map((i) => i + ",x").join("\n"));
  await page.click("#screen-run");
  await page.waitForSelector("#screen-table");
  const rows = await page.$$eval("#screen-table tbody tr", (trs) => trs.map((tr) =>
    [...tr.querySelectorAll("td")].map((td) => td.textContent)));
  check("screening: one row per item", rows.length === items.length, rows.length);
  const thief = rows.find((r) => r[1] === X.sources[0].address);
  check("screening: a theft address is severe with its reason", thief && thief[2] === "severe" &&
    /theft/.test(thief[4]), JSON.stringify(thief));
  check("screening: an unknown address is an error row", rows.some((r) => r[2] === "error"));
  await shot("screening");
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#screen-download")]);
  const csvPath = path.join(cfg.download_dir, "screening.csv");
  await dl.saveAs(csvPath);
  check("screening: CSV downloaded", fs.existsSync(csvPath) && dl.suggestedFilename() === "screening.csv");
  const upload = path.join(cfg.download_dir, "upload.csv");
  fs.writeFileSync(upload, "chain,address\nbtc," + X.sources[2].address + "\n");
  await page.setInputFiles("#screen-file", upload);
  await page.waitForFunction((a) => document.querySelector("#screen-input").value.includes(a),
    X.sources[2].address);
  check("screening: an uploaded CSV fills the box", true);

  // --- unknown ids and pages: a 404 view, not a crash
  for (const route of ["#/tx/" + "0".repeat(64), "#/address/1BoguSaddressXXXXXXXXXXXXXXXXXXXX",
    "#/entity/999999999", "#/no/such/page", "#/labels/nothing-here"]) {
    await page.goto(base + "/" + route);
    await page.waitForSelector("#notfound, #error", { timeout: 30000 });
    check("404 view for " + route, (await page.$("#notfound")) !== null);
  }
  const r404 = await page.goto(base + "/no-such-page");
  check("an unknown path is an HTTP 404 page", r404.status() === 404 &&
    (await page.$("#notfound")) !== null && /default-src 'none'/.test(r404.headers()["content-security-policy"]));

  // --- a read key cannot write; an analyst can
  await page.goto(base + "/#/");
  const writes = await page.evaluate(async (keys) => {
    const post = (k) => fetch("/v1/watchlists", { method: "POST", headers: { "X-API-Key": k,
      "Content-Type": "application/json" }, body: JSON.stringify({ name: "w1",
      items: [{ kind: "address", value: "1BoatSLRHtKNngkdXEeobR76b53LETtpyT" }] }) })
      .then((r) => r.status);
    return [await post(keys.read), await post(keys.analyst)];
  }, cfg.keys);
  check("a read key cannot write (403), an analyst can", writes[0] === 403 &&
    (writes[1] === 200 || writes[1] === 201), JSON.stringify(writes));
  const noKey = await page.evaluate(() => fetch("/v1/tx/" + "0".repeat(64)).then((r) => r.status));
  check("the API without a key: 401", noKey === 401);

  // --- sign out, and the analyst's role
  await page.click("#signout");
  await page.waitForSelector("#signin");
  check("signed out: key gone", await page.evaluate(() => sessionStorage.getItem("ct_key")) === null);
  await page.fill("#apikey", cfg.keys.analyst);
  await page.click("#signin-button");
  await page.waitForFunction(() => document.querySelector("#who").dataset.role === "analyst");
  check("signed in as analyst", true);

  // --- cases (analyst): open a case on the theft, trace it, label and note from the graph,
  // export the report, the endpoints and the graph
  await page.goto(base + "/#/cases");
  await page.waitForSelector("#newcase");
  await page.fill("#newcase-title", "Theft at " + X.victim);
  await page.fill("#newcase-victim", X.victim);
  await page.click("#newcase-submit");
  await page.waitForSelector("#case-title");
  const caseId = page.url().split("/").pop();
  check("case opened", /^[0-9]+$/.test(caseId) && (await text("#case-victim")) === X.victim, page.url());
  await page.fill("#addseed-spec", X.theft_txid);
  await page.click("#addseed-submit");
  await page.waitForSelector("#case-seeds tbody tr");
  await page.fill("#runtrace-hops", "50");
  await page.click("#runtrace-submit");
  await page.waitForSelector(".run table.actors", { timeout: 60000 });
  await shot("case");
  const seeded = Number(await page.$eval(".run p .amount", (e) => e.dataset.sats));
  check("case run: seeded = the stolen amount (truth)", seeded === X.stolen, seeded + " != " + X.stolen);
  const actors = await page.$$eval(".run table.actors tbody tr", (trs) => trs.map((tr) => ({
    actor: tr.children[0].textContent, sats: Number(tr.querySelector(".amount").dataset.sats) })));
  const byName = Object.fromEntries(actors.map((a) => [a.actor, a.sats]));
  const services = X.endpoints.filter((e) => ["exchange", "otc", "swap", "bridge"].includes(e.type));
  const named = services.filter((e) => byName[e.name] !== undefined);
  check("case run: the truth's cash-out services are named by actor", named.length === services.length,
    "missing " + JSON.stringify(services.filter((e) => byName[e.name] === undefined).map((e) => e.name)));
  const shown = named.reduce((a, e) => a + byName[e.name], 0);
  const truthSum = services.reduce((a, e) => a + e.value, 0);
  // the tracer's recall at the services (docs/tracing.md: CoinJoins are not followed) is below
  // 100 %; more than the truth would be taint from nowhere
  check("case run: amounts at the services 90-100.5 % of the truth", shown >= truthSum * 0.9 &&
    shown <= truthSum * 1.005, `${shown} vs ${truthSum} (${(100 * shown / truthSum).toFixed(1)} %)`);
  await page.goto(base + "/#/graph?case=" + caseId);
  await page.waitForFunction(() => CT.graph && CT.graph.nodes.size >= 2 && CT.graph.caseId &&
    !CT.graph.loading, null, { timeout: 60000 });
  const node2 = await page.evaluate((op) => [...CT.graph.nodes.values()].find((n) => n.outputs.has(op)).id,
    X.sources[1].output);
  await clickNode(node2);
  await page.waitForSelector("#case-tools");
  await page.fill("#nodelabel-actor", "Thief wallet (analyst)");
  await page.click("#nodelabel-submit");
  await page.waitForFunction(() => document.querySelector("#nodelabel-msg").textContent === "saved");
  await page.fill("#nodenote-text", "<script>alert(9)</script> seen moving");
  await page.click("#nodenote-submit");
  await page.waitForFunction(() => document.querySelector("#nodenote-msg").textContent === "saved");
  const cdoc = await page.evaluate((id) => CT.api("cases/" + id), caseId);
  // the node is the thief's entity when the clustering joined the sources, so the label goes to
  // its representative address: whichever source address the graph met first
  const nodeAddr = await page.evaluate((id) => CT.graph.nodes.get(id).address, node2);
  check("graph: label and note recorded in the case", cdoc.labels.length === 1 &&
    cdoc.labels[0].address === nodeAddr && X.sources.some((s) => s.address === nodeAddr) &&
    cdoc.notes.length === 1 && cdoc.audit_verified === true,
  JSON.stringify([cdoc.labels, nodeAddr, X.sources.map((s) => s.address), cdoc.notes.length,
    cdoc.audit_verified]));
  // the case graph is saved with the case: an expansion, and a child's expansion collapsed
  // again, come back after a reload; each is an audit row naming the analyst and the node
  await page.click("#btn-next");
  await page.waitForFunction((id) => CT.graph.nodes.get(id).expanded.forward, node2);
  const kid = await page.evaluate((id) => {
    const k = [...CT.graph.nodes.values()].find((n) => n.parent === id && n.expandable);
    return k ? k.id : null;
  }, node2);
  if (kid) {
    await page.evaluate((k) => CT.graph.expand(k, "forward"), kid);
    await page.evaluate((k) => CT.graph.collapse(k), kid);
  }
  /* with the drawn layout: a saved graph reloads to the same picture */
  const shape = () => page.evaluate(() => JSON.stringify([[...CT.graph.nodes.keys()].sort(),
    [...CT.graph.edges.keys()].sort(), [...CT.graph.nodes.values()].map((n) => CT.graph.amountOf(n))
      .sort((a, b) => a - b), CT.graph.cy.nodes().map((n) => [n.id(), n.position()])
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))]));
  const graphBefore = await shape();
  const nGraph = await page.evaluate(() => CT.graph.nodes.size);
  await page.reload();
  await page.waitForFunction(() => CT.graph && CT.graph.caseId && !CT.graph.loading &&
    CT.graph.nodes.size >= 2, null, { timeout: 60000 });
  const graphAfter = await shape();
  check("case graph: after a reload the saved graph comes back (nodes, edges, amounts, layout)",
    graphAfter === graphBefore && nGraph > 2, graphBefore.slice(0, 300) + " | " + graphAfter.slice(0, 300));
  check("case graph: the page says it is the saved graph", /^Saved graph: \d+ step/.test(
    await text("#graph-saved")), await text("#graph-saved"));
  const gaud = (await page.evaluate((id) => CT.api("cases/" + id), caseId)).audit;
  const gx = gaud.filter((a) => a.action === "graph.expand" && a.analyst === "ana" &&
    a.detail.node === node2 && a.detail.direction === "forward" && a.detail.saved === true &&
    a.store_state.btc_height > 0 && a.store_state.btc_tip.length === 64);
  check("case graph: the expansion is an audit row (who, when, node, store state)", gx.length === 1 &&
    gaud.some((a) => a.action === "graph.start") && gaud.some((a) => a.action === "graph.read") &&
    (!kid || gaud.some((a) => a.action === "graph.collapse" && a.detail.node === kid)),
  JSON.stringify(gaud.filter((a) => a.action.startsWith("graph")).slice(0, 4)));
  const save = async (sel, name) => {
    const [d] = await Promise.all([page.waitForEvent("download"), page.click(sel)]);
    const p = path.join(cfg.download_dir, name);
    await d.saveAs(p);
    return fs.readFileSync(p, "utf8");
  };
  const svg = await save("#graph-svg", "graph.svg");
  check("graph exported as SVG, hostile text escaped", svg.startsWith("<?xml") && svg.includes("<svg") &&
    svg.includes("&lt;script&gt;alert(1)&lt;/script&gt;") && !svg.includes("<script"), svg.slice(0, 80));
  const dot = await save("#graph-dot", "graph.dot");
  check("graph exported as DOT", dot.startsWith("digraph") && dot.includes(" -> ") &&
    dot.includes(btc(X.sources[1].value)), dot.slice(0, 200));
  await page.goto(base + "/#/case/" + caseId);
  await page.waitForSelector("#export-report");
  const rep = await save("#export-report", "report.html");
  check("case report: the note's markup escaped, no script", rep.includes("&lt;script&gt;alert(9)") &&
    !/<script/i.test(rep) && rep.includes("Thief wallet (analyst)"), rep.length);
  const eps = await save("#export-endpoints", "endpoints.csv");
  check("case endpoints CSV", eps.startsWith("case,run,chain,rank,address,category,actor") &&
    eps.split("\n").length > 3);
  await shot("case-after");
  // --- an EVM case graph: started from a 0x address, expanded, a label from the graph on the
  // 0x address, saved and replayed after a reload
  if (X.xchain) {
    const c2 = await page.evaluate(() => CT.api("cases", { body: { title: "EVM", chains: "eth" } }));
    const from = X.xchain.inbound_from;
    const evmId = "eth:" + from.toLowerCase();
    await page.goto(base + "/#/graph?case=" + c2.id + "&from=" + from);
    await page.waitForFunction((id) => CT.graph && !CT.graph.loading && CT.graph.nodes.has(id),
      evmId, { timeout: 60000 });
    await page.evaluate(() => { window.__oldGraph = CT.graph; });
    await page.goto(base + "/#/graph?case=" + c2.id); /* the saved graph: its start */
    await page.waitForFunction((id) => CT.graph && CT.graph !== window.__oldGraph &&
      CT.graph.caseId && !CT.graph.loading && CT.graph.nodes.has(id), evmId, { timeout: 60000 });
    await page.evaluate((id) => CT.graph.expand(id, "forward"), evmId);
    await page.evaluate((id) => CT.graph.expand(id, "backward"), evmId);
    await clickNode(evmId);
    await page.waitForSelector("#case-tools");
    await page.fill("#nodelabel-actor", "<img src=x onerror=alert(8)> desk");
    await page.fill("#nodelabel-confidence", "100"); /* above the feed's 90: it names the node */
    await page.click("#nodelabel-submit");
    await page.waitForFunction(() => document.querySelector("#nodelabel-msg").textContent === "saved");
    const eshape = () => page.evaluate(() => JSON.stringify([[...CT.graph.nodes.keys()].sort(),
      [...CT.graph.edges.keys()].sort(), [...CT.graph.nodes.values()].map((n) =>
        n.chain === "btc" ? String(CT.graph.amountOf(n)) : [...(n.transfers || new Map()).values()]
          .map((t) => t.xfer + "=" + [...t.by.values()].join("+")).join(",")).sort(),
      CT.graph.cy.nodes().map((n) => [n.id(), n.position()]).sort((a, b) => (a[0] < b[0] ? -1 : 1))]));
    const before = await eshape();
    /* the label changes what the steps answered (the node's name): once the service has it,
     * a reload replays the same graph and says which steps now answer differently */
    let named = false;
    for (let i = 0; i < 300 && !named; i++) {
      named = await page.evaluate(async (f) => (await CT.api("graph/start", { body: { from: f } }))
        .nodes.some((n) => n.name === "<img src=x onerror=alert(8)> desk"), from);
      if (!named) await page.waitForTimeout(200);
    }
    check("EVM case graph: the label from the graph names the node", named);
    await page.reload();
    await page.waitForFunction(() => CT.graph && CT.graph.caseId && !CT.graph.loading &&
      CT.graph.nodes.size >= 2, null, { timeout: 60000 });
    const after = await eshape();
    check("EVM case graph: after a reload the saved steps replay to the same graph", after === before &&
      JSON.parse(before)[0].length > 2, before.slice(0, 200) + " | " + after.slice(0, 200));
    const savedLine = await text("#graph-saved");
    check("EVM case graph: steps whose answer changed (a new label) are said",
      /1 step\(s\) answer differently: store changed since this step/.test(savedLine) &&
      /eth block \d+/.test(savedLine), savedLine);
    await page.evaluate((id) => CT.graph.select(id), evmId);
    check("EVM case graph: the node's panel says the store changed since its step",
      /^Store changed since this step/.test(await text("#side-changed")), await text("#side-changed"));
    const cd = await page.evaluate((id) => CT.api("cases/" + id), c2.id);
    check("EVM case graph: the label from the graph is on the 0x address, as text",
      cd.labels.length === 1 && cd.labels[0].chain === "eth" &&
      cd.labels[0].address.toLowerCase() === from.toLowerCase() &&
      cd.labels[0].actor === "<img src=x onerror=alert(8)> desk" &&
      cd.audit.filter((a) => a.action === "graph.expand" && a.store_state.evm_height > 0).length === 2,
    JSON.stringify([cd.labels, cd.audit.map((a) => a.action)]));
  }
  // a read key sees the case and cannot change it
  await page.evaluate(() => { sessionStorage.clear(); });
  await page.goto(base + "/#/signin");
  await page.fill("#apikey", cfg.keys.read);
  await page.click("#signin-button");
  await page.waitForFunction(() => document.querySelector("#who").dataset.role === "read");
  await page.goto(base + "/#/case/" + caseId);
  await page.waitForSelector("#case-title");
  check("read key: no forms on the case page", (await page.$("#addnote")) === null &&
    (await page.$("#runtrace")) === null);
  const w = await page.evaluate(async ([id, k]) => (await fetch("/v1/cases/" + id + "/notes",
    { method: "POST", headers: { "X-API-Key": k, "Content-Type": "application/json" },
      body: '{"text":"x"}' })).status, [caseId, cfg.keys.read]);
  check("read key: a note is refused (403)", w === 403, w);
  // a read key opens the saved graph; its expansions are audited, not saved
  await page.goto(base + "/#/graph?case=" + caseId);
  await page.waitForFunction(() => CT.graph && CT.graph.caseId && !CT.graph.loading &&
    CT.graph.nodes.size >= 2, null, { timeout: 60000 });
  check("read key: the case's saved graph", await shape() === graphBefore);
  const rk = await page.evaluate(async (id) => {
    const n = [...CT.graph.nodes.values()].find((x) => x.expandable && !x.expanded.backward);
    await CT.graph.expand(n.id, "backward");
    const steps = (await CT.api("cases/" + id + "/graph")).steps;
    const aud = (await CT.api("cases/" + id)).audit;
    return { node: n.id, steps: steps.length, audited: aud.filter((a) => a.action === "graph.expand" &&
      a.analyst === "reader" && a.detail.node === n.id && a.detail.saved === false).length,
      savedByReader: steps.filter((x) => x.analyst === "reader").length };
  }, caseId);
  check("read key: an expansion is audited, not saved", rk.audited === 1 && rk.savedByReader === 0,
    JSON.stringify(rk));
  await page.goto(base + "/#/case/987654");
  await page.waitForSelector("#notfound");
  check("404 view for an unknown case", true);

  const csp = await page.evaluate(() => window.__csp);
  check("no CSP violation", csp.length === 0, JSON.stringify(csp));
  check("no dialog opened", dialogs.length === 0, JSON.stringify(dialogs));
  const realErrors = errors.filter((e) => !/status of (400|401|403|404)/.test(e));
  check("no script error", realErrors.length === 0, JSON.stringify(realErrors));
  check("no cookie was set", (await context.cookies()).length === 0);
  await browser.close();
}

main().then(() => process.exit(failed ? 1 : 0), (e) => {
  console.log("FAIL driver: " + (e && e.stack ? e.stack.split("\n").slice(0, 4).join(" | ") : e));
  process.exit(1);
});
