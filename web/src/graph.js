/* cointrail web UI: the graph (docs/webui.md, "The graph"). Nodes are entities (or addresses
 * outside the clustering) named by their best label's actor, holding tainted outputs; chains
 * are lanes, money flows left to right. Clicking a node shows its side panel; "next" and
 * "previous" expand it by one hop of a trace (POST /v1/graph/expand) from its outputs, and
 * collapse removes what its expansions added. The layout is computed here (columns by hop,
 * rows within a lane, a column's long tail of receivers grouped), so the picture is the same
 * every time. */
"use strict";

CT.graph = null; /* the graph page's state, for tests and the side panel */

const LANE_NAMES = { btc: "Bitcoin", eth: "Ethereum" };
const COL_W = 300, ROW_H = 90, LANE_GAP = 90;
const NODE_W = 190, NODE_H = 56;
/* An expansion that puts more than GROUP_MAX nodes into one column of a lane shows its
 * GROUP_MAX - 1 biggest receivers and groups the rest into one "+K more" node (as Breadcrumbs
 * groups small flows): a column of 60 receivers fitted into the view is 60 unreadable specks.
 * Eight rows fit a 700 px high drawing at a zoom where 12 px labels are still 9 px. Which
 * nodes are grouped follows from the graph alone (not from the window), so a saved graph
 * reloads to the same layout. */
const GROUP_MAX = 8;
/* Beyond this many nodes the graph is drawn for speed (docs/webui.md, "Speed"): cytoscape's
 * cost is per element (a style of ~100 properties, bounds, a texture), and edges cost the most,
 * so a large graph's edges and lanes are painted on a plain canvas under the nodes (they carry
 * no events: their amounts and markers are in the side panel), and node labels are drawn only
 * when the zoom makes them readable. */
const BIG = 300;
const LABEL_ZOOM = 7 / 12; /* a 12 px label below 7 px is not worth drawing */
const EDGE_COLORS = { tx: "#7f8a99", coinjoin: "#7d3cc8", peel: "#2e8b57", cross: "#d9822b" };

function edgeKind(e) {
  return e.kind === "cross_chain" ? "cross" : e.patterns.includes("coinjoin") ? "coinjoin"
    : e.patterns.includes("peel") ? "peel" : "tx";
}

/* Where the segment from box a's centre to b's leaves box a (boxes NODE_W x NODE_H). */
function boxExit(ax, ay, bx, by) {
  const dx = bx - ax, dy = by - ay;
  const t = Math.min(dx ? NODE_W / 2 / Math.abs(dx) : Infinity, dy ? NODE_H / 2 / Math.abs(dy) : Infinity);
  return t >= 1 ? [ax, ay] : [ax + dx * t, ay + dy * t];
}

/* An edge's id: the same transfer pair, tx and asset is one edge. */
function edgeId(e) {
  return e.from + "|" + e.to + "|" + (e.tx || "") + "|" + (e.kind || "tx") +
    (e.kind === "transfer" ? "|" + e.asset : "");
}

/* What an edge carried: BTC to the satoshi, an EVM transfer in its asset's decimals, a
 * cross-chain link in its source asset. */
function edgeAmount(e) {
  return e.kind === "cross_chain" ? CT.units(e.amount, e.asset)
    : e.kind === "transfer" ? CT.dec(e.amount, e.decimals, e.symbol || e.asset) : CT.btc(e.amount);
}

/* An EVM node's tainted amounts per asset (BigInt sums of its transfers' parts). */
function evmAmounts(s) {
  const by = new Map();
  for (const t of s.transfers.values()) {
    let a = by.get(t.asset);
    if (!a) by.set(t.asset, (a = { asset: t.asset, symbol: t.symbol, decimals: t.decimals, total: 0n }));
    for (const v of t.by.values()) a.total += BigInt(v);
  }
  return [...by.values()].sort((x, y) => (x.total < y.total ? 1 : x.total > y.total ? -1 : 0));
}

function evmAmountText(s, max) {
  const a = evmAmounts(s).filter((x) => x.total > 0n);
  const txt = a.slice(0, max || 2).map((x) => CT.dec(x.total.toString(), x.decimals, x.symbol || x.asset));
  return txt.join(", ") + (a.length > (max || 2) ? " +" + (a.length - (max || 2)) : "");
}

function amountText(s, g) {
  return s.chain === "btc" ? CT.btc(g.amountOf(s)) : s.transfers ? evmAmountText(s) : "";
}

function markerText(patterns) {
  const m = { coinjoin: "CoinJoin", peel: "peel", split: "split", bridge: "bridge", swap: "swap",
    consolidate: "merge", hop: "hop" };
  return (patterns || []).filter((p) => m[p]).map((p) => m[p]);
}

function nodeTitle(n) {
  if (n.name) return n.name;
  if (n.chain !== "btc" && n.address) return CT.short(n.address, 6);
  if (n.chain !== "btc") return n.chain.toUpperCase() + " " + CT.short(n.tx || n.id, 6);
  if (n.entity !== undefined) return "e" + n.entity + (n.size > 1 ? " (" + n.size + " addr.)" : "");
  return CT.short(n.address || n.id, 8);
}

class Graph {
  constructor(container, side, opts) {
    this.side = side;
    this.policy = opts.policy || "haircut";
    this.nodes = new Map(); /* id -> node state */
    this.edges = new Map(); /* id -> edge state */
    this.seq = 0;
    this.onchange = opts.onchange || (() => {});
    this.cy = cytoscape({
      container,
      minZoom: 0.05,
      maxZoom: 3,
      boxSelectionEnabled: false,
      /* a large graph pans and zooms as a picture, redrawn when the gesture ends */
      textureOnViewport: true,
      hideEdgesOnViewport: true,
      pixelRatio: 1,
      style: [
        { selector: "node", style: {
          "shape": "round-rectangle", "width": 190, "height": 56,
          "background-color": "#eef1f5", "border-width": 1, "border-color": "#8a94a6",
          "label": "data(label)", "text-wrap": "wrap", "text-max-width": 180,
          "text-valign": "center", "font-size": 12, "color": "#1b2430",
          "min-zoomed-font-size": 7 } },
        { selector: "node.nolabel", style: { "label": "" } },
        { selector: "node.lane", style: {
          "shape": "rectangle", "background-color": "#f7f9fb", "background-opacity": 0.6,
          "border-width": 1, "border-style": "dashed", "border-color": "#b7c0cc",
          "width": "data(w)", "height": "data(h)", "z-compound-depth": "bottom", "z-index": 0,
          "label": "data(label)", "text-valign": "top", "text-halign": "center",
          "font-size": 16, "color": "#5b6675", "events": "no" } },
        { selector: "node.exchange, node.otc", style: { "background-color": "#dbe9ff", "border-color": "#2f6fd6" } },
        { selector: "node.theft, node.sanctioned, node.ransomware", style: { "background-color": "#ffe1e1", "border-color": "#c0392b" } },
        { selector: "node.mixer", style: { "background-color": "#efe3ff", "border-color": "#7d3cc8" } },
        { selector: "node.bridge, node.swap", style: { "background-color": "#ffeed8", "border-color": "#d9822b" } },
        { selector: "node.endpoint", style: { "border-width": 4 } },
        { selector: "node.root", style: { "border-width": 3, "border-style": "double" } },
        { selector: "node.foreign", style: { "shape": "hexagon", "background-color": "#fff6d6", "border-color": "#b08a00" } },
        { selector: "node.changed", style: { "border-style": "dashed", "border-color": "#c0392b", "border-width": 3 } },
        { selector: "node.group", style: { "background-color": "#ffffff", "border-style": "dashed",
          "border-color": "#5b6675", "border-width": 2, "font-style": "italic" } },
        { selector: "node:selected", style: { "border-color": "#111", "border-width": 4 } },
        { selector: "edge", style: {
          "curve-style": "bezier", "target-arrow-shape": "triangle", "width": 2,
          "line-color": "#7f8a99", "target-arrow-color": "#7f8a99", "label": "data(label)",
          "font-size": 10, "text-rotation": "autorotate", "text-background-color": "#ffffff",
          "text-background-opacity": 0.85, "text-background-padding": 2,
          "min-zoomed-font-size": 7 } },
        { selector: "edge.coinjoin", style: { "line-style": "dashed", "line-color": "#7d3cc8", "target-arrow-color": "#7d3cc8" } },
        { selector: "edge.peel", style: { "line-color": "#2e8b57", "target-arrow-color": "#2e8b57" } },
        { selector: "edge.cross", style: { "line-style": "dashed", "width": 3, "line-color": "#d9822b", "target-arrow-color": "#d9822b" } },
        { selector: "edge:selected", style: { "width": 4, "line-color": "#111" } },
      ],
    });
    /* cytoscape calls two taps in quick succession a double tap wherever they land: a click
     * on one node and then, quickly, on another would expand the second */
    this.taps = [null, null];
    this.cy.on("tap", (ev) => { this.taps = [this.taps[1], ev.target === this.cy ? null : ev.target.id()]; });
    this.cy.on("tap", "node", (ev) => {
      if (ev.target.hasClass("lane")) return;
      if (ev.target.hasClass("group")) this.selectGroup(ev.target.id());
      else this.select(ev.target.id());
    });
    this.cy.on("dbltap", "node", (ev) => {
      if (this.taps[0] !== ev.target.id()) return;
      if (ev.target.hasClass("group")) this.showMore(ev.target.id(), GROUP_MAX - 1);
      else if (!ev.target.hasClass("lane")) this.expand(ev.target.id(), "forward");
    });
    /* the view is re-fitted after a change only while the user has not moved it by hand since
     * the last fit (a view that jumps away from where one is reading is worse than one that
     * needs "Fit"); these events come from the user's gestures only, never from cy.viewport() */
    this.userMoved = false;
    this.cy.on("dragpan scrollzoom pinchzoom", () => { this.userMoved = true; });
    this.shown = new Map(); /* group key -> how many of its nodes are drawn (more than the default) */
    this.groupMax = GROUP_MAX; /* Infinity: no groups (bench/web_bench.js draws every node) */
    /* the canvas under the nodes (large graphs): follows every pan and zoom */
    this.under = CT.h("canvas", { class: "underlay" });
    container.insertBefore(this.under, container.firstChild);
    this.big = false;
    this.labelsOn = true;
    this.cy.on("viewport resize", () => {
      this.labelSwitch();
      if (this.big && !this.underQueued) {
        this.underQueued = true;
        requestAnimationFrame(() => { this.underQueued = false; this.paintUnder(); });
      }
    });
  }

  /* Add or merge a node of an answer; parent: the node whose expansion reached it. */
  addNode(n, parent, depth, via) {
    let s = this.nodes.get(n.id);
    if (!s) {
      s = { id: n.id, chain: n.chain || "btc", name: n.name || null, category: n.category || null,
        label: n.label || null, entity: n.entity, size: n.size, address: n.address, tx: n.tx,
        depth, order: this.seq++, outputs: new Map(), n_outputs: 0,
        expanded: {}, added: [], addedEdges: [], parent, owner: parent || null, via,
        expandable: n.expandable !== false,
        root: !parent, transfers: n.transfers ? new Map() : null, actor_from: n.actor_from };
      this.nodes.set(n.id, s);
      if (parent) this.nodes.get(parent).added.push(n.id);
    }
    /* an EVM node: the transfers that brought it taint, each with its part (exact, a string) */
    for (const t of n.transfers || []) {
      if (!s.transfers) s.transfers = new Map();
      let cur = s.transfers.get(t.xfer);
      if (!cur) {
        cur = { xfer: t.xfer, transfer: t.transfer, asset: t.asset, symbol: t.symbol,
          decimals: t.decimals, amount: t.amount, fate: t.fate, by: new Map() };
        s.transfers.set(t.xfer, cur);
      }
      cur.by.set(parent || "start", t.taint);
      if (t.fate === "endpoint") s.endpoint = true;
    }
    if (n.endpoint) s.endpoint = true;
    for (const o of n.outputs || []) {
      let cur = s.outputs.get(o.output);
      if (!cur) {
        cur = { output: o.output, value: o.value, spent: o.spent, fate: o.fate, by: new Map() };
        s.outputs.set(o.output, cur);
      }
      cur.by.set(parent || "start", o.taint);
      if (o.fate === "endpoint") s.endpoint = true;
    }
    s.n_outputs = Math.max(s.n_outputs, n.n_outputs || 0);
    return s;
  }

  amountOf(s) {
    let t = 0;
    for (const o of s.outputs.values()) for (const v of o.by.values()) t += v;
    return t;
  }

  addEdge(e, owner) {
    const id = edgeId(e);
    if (this.edges.has(id)) return null;
    const s = { id, from: e.from, to: e.to, tx: e.tx, height: e.height !== undefined ? e.height
      : e.block, amount: e.amount, asset: e.asset, symbol: e.symbol, decimals: e.decimals,
      patterns: e.patterns || [], kind: e.kind || "tx", method: e.method,
      confidence: e.confidence, rule: e.rule, owner, chain: e.chain };
    this.edges.set(id, s);
    if (owner) this.nodes.get(owner).addedEdges.push(id);
    return s;
  }

  /* What one node received from the expansion that added it (its owner; the start: "start"),
   * as a BigInt: satoshis, or an EVM node's base units of the asset given. */
  weightOf(n, asset) {
    const key = n.owner || "start";
    let w = 0n;
    if (n.chain === "btc") {
      for (const o of n.outputs.values()) w += BigInt(o.by.get(key) || 0);
    } else if (n.transfers) {
      for (const t of n.transfers.values())
        if (t.asset === asset) w += BigInt(t.by.get(key) || 0);
    }
    return w;
  }

  /* The groups: per expansion (owner), column and lane, the nodes beyond the GROUP_MAX - 1
   * that received the most from the owner, unless the user asked for more (this.shown). A node
   * is never grouped once it is more than a receiver of that one expansion: expanded, reached
   * by an edge of another expansion, or marked changed by a replay. The selection plays no
   * part: the layout follows from the graph and the groups the user opened. Returns hidden (node id -> group id) and
   * groups (group id -> {key, owner, depth, chain, members (all, biggest first), hidden}). */
  grouping() {
    const hidden = new Map(), groups = new Map(), row = new Map();
    const pinned = new Set();
    for (const e of this.edges.values())
      for (const end of [e.from, e.to]) {
        const n = this.nodes.get(end);
        if (n && (e.owner || null) !== n.owner) pinned.add(end);
      }
    const buckets = new Map();
    for (const n of this.nodes.values()) {
      const key = JSON.stringify([n.owner || "", n.depth, n.chain]);
      let b = buckets.get(key);
      if (!b) buckets.set(key, (b = []));
      b.push(n);
    }
    for (const [key, list] of buckets) {
      if (list.length <= this.groupMax) continue;
      /* an EVM column is ranked in the asset most of its transfers are in (amounts of
       * different assets do not compare) */
      let asset = null;
      if (list[0].chain !== "btc") {
        const count = new Map();
        for (const n of list)
          for (const t of (n.transfers || new Map()).values()) count.set(t.asset, (count.get(t.asset) || 0) + 1);
        asset = [...count].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map((x) => x[0])[0];
      }
      const w = new Map(list.map((n) => [n.id, this.weightOf(n, asset)]));
      const ranked = list.slice().sort((a, b) => (w.get(a.id) < w.get(b.id) ? 1
        : w.get(a.id) > w.get(b.id) ? -1 : a.order - b.order));
      const free = ranked.filter((n) => !pinned.has(n.id) && !n.added.length &&
        !n.expanded.forward && !n.expanded.backward && !n.changed);
      const limit = this.shown.get(key) || GROUP_MAX - 1;
      let tail = free.slice(limit);
      if (tail.length < 2) tail = []; /* a "+1 more" node would hide nothing worth hiding */
      for (const n of tail) hidden.set(n.id, "group:" + key);
      /* the drawn ones take the rows of the column's arrival order biggest first (one answer's
       * nodes arrive together, so these are the rows they had), also once all are shown */
      const drawn = ranked.filter((n) => !hidden.has(n.id));
      const rows = drawn.map((n) => n.order).sort((a, b) => a - b);
      drawn.forEach((n, i) => row.set(n.id, rows[i]));
      if (!tail.length) continue;
      const [owner, depth, chain] = JSON.parse(key);
      const id = "group:" + key;
      groups.set(id, { id, key, owner, depth, chain, asset, members: ranked.map((n) => n.id),
        hidden: tail.map((n) => n.id), weight: tail.reduce((a, n) => a + w.get(n.id), 0n) });
    }
    return { hidden, groups, row };
  }

  /* Columns by depth, lanes by chain, rows by first appearance; a group's node comes after the
   * last drawn node of its group. The drawn edges: an edge to or from grouped nodes is drawn
   * once per pair of drawn ends and kind, with the count and (Bitcoin) the sum it stands for. */
  layout() {
    const { hidden, groups, row } = this.grouping();
    const vis = [...this.nodes.values()].filter((n) => !hidden.has(n.id))
      .map((n) => (row.has(n.id) ? Object.assign(Object.create(n), { order: row.get(n.id) }) : n));
    for (const g of groups.values()) {
      const shown = g.members.filter((m) => !hidden.has(m)).map((m) => row.get(m));
      vis.push({ id: g.id, group: g, chain: g.chain, depth: g.depth,
        order: shown.length ? Math.max(...shown) + 0.5 : this.nodes.get(g.hidden[0]).order });
    }
    const lanes = [...new Set(vis.map((n) => n.chain))]
      .sort((a, b) => (a === "btc" ? -1 : b === "btc" ? 1 : a < b ? -1 : 1));
    const pos = {};
    let top = 0;
    const laneTop = {};
    for (const lane of lanes) {
      const cols = {};
      const list = vis.filter((n) => n.chain === lane).sort((a, b) => a.order - b.order);
      for (const n of list) {
        const c = (cols[n.depth] = cols[n.depth] || []);
        pos[n.id] = { x: n.depth * COL_W, y: top + c.length * ROW_H };
        c.push(n.id);
      }
      const rows = Math.max(1, ...Object.values(cols).map((c) => c.length));
      const depths = list.map((n) => n.depth);
      laneTop[lane] = { top, rows, min: Math.min(...depths), max: Math.max(...depths) };
      top += rows * ROW_H + LANE_GAP;
    }
    const edges = [];
    const agg = new Map();
    for (const e of this.edges.values()) {
      const f = hidden.get(e.from), t = hidden.get(e.to);
      if (!f && !t) { edges.push(e); continue; }
      const from = f || e.from, to = t || e.to;
      if (from === to) continue;
      const id = "agg:" + from + "|" + to + "|" + e.kind;
      let a = agg.get(id);
      if (!a) {
        agg.set(id, (a = { id, from, to, kind: e.kind, patterns: [], count: 0, sats: 0, group: true }));
        edges.push(a);
      }
      a.count++;
      if (e.kind === "tx") a.sats += e.amount;
    }
    return { pos, lanes, laneTop, vis, edges, hidden, groups };
  }

  /* A drawn edge's label: its amount and markers, or what a group's edge stands for. */
  edgeLabel(e) {
    if (e.group) return e.count + (e.kind === "transfer" ? " transfers" : " edges") +
      (e.kind === "tx" ? ": " + CT.btc(e.sats) : "");
    const marks = markerText(e.patterns);
    return edgeAmount(e) + (marks.length ? " · " + marks.join(" ") : "");
  }

  /* A group node's text: how many it holds and what they hold together (an EVM group per
   * asset, the column's ranking asset first). */
  groupText(g) {
    const owner = this.nodes.get(g.owner);
    let amt = "";
    if (g.chain === "btc") amt = CT.btc(Number(g.weight));
    else {
      const by = new Map();
      for (const id of g.hidden)
        for (const a of evmAmounts(this.nodes.get(id))) {
          const cur = by.get(a.asset);
          if (cur) cur.total += a.total;
          else by.set(a.asset, Object.assign({}, a));
        }
      const list = [...by.values()].filter((a) => a.total > 0n)
        .sort((x, y) => (x.asset === g.asset ? -1 : y.asset === g.asset ? 1 : x.asset < y.asset ? -1 : 1));
      amt = list.slice(0, 2).map((a) => CT.dec(a.total.toString(), a.decimals, a.symbol || a.asset))
        .join(", ") + (list.length > 2 ? " +" + (list.length - 2) : "");
    }
    return { title: "+" + g.hidden.length + " more", owner: owner ? nodeTitle(owner) : "the start", amt };
  }

  /* Bring the drawing to the state: elements that left are removed, new ones added, the others
   * moved or relabelled where they changed (a hop added to a big graph does not restyle the
   * thousand nodes already drawn). fit: true fits the view to the graph (a new graph), "grow"
   * after an expansion, "shrink" after a collapse: see refit(). */
  draw(fit) {
    const cy = this.cy;
    const lay = this.layout();
    const { pos, lanes, laneTop, vis } = lay;
    this.lay = lay;
    this.big = vis.length > BIG;
    this.extent = this.extentOf(pos);
    this.drawing = true; /* the viewport event of the fit leaves the labels to this call */
    this.outside = 0;
    if (fit) this.refit(fit); /* before the elements are added: they are drawn once, in place */
    this.drawing = false;
    this.labelsOn = !this.big || cy.zoom() >= LABEL_ZOOM;
    const els = [];
    /* a lane is a plain box behind its nodes (not a compound node: those cost a bounds pass
     * over their children at every change); a big graph paints it under the nodes instead */
    for (const lane of this.big ? [] : lanes) {
      const L = laneTop[lane];
      const w = (L.max - L.min) * COL_W + 250, h = L.rows * ROW_H + 40;
      els.push({ group: "nodes", data: { id: "lane:" + lane, label: LANE_NAMES[lane] || lane,
        w, h }, position: { x: (L.min + L.max) * COL_W / 2, y: L.top + (L.rows - 1) * ROW_H / 2 },
      classes: "lane", selectable: false, grabbable: false });
    }
    const nolabel = this.labelsOn ? "" : "nolabel";
    for (const n of vis) {
      if (n.group) {
        const t = this.groupText(n.group);
        els.push({ group: "nodes", data: { id: n.id, lane: n.chain, label: t.title + (t.amt ? "\n" + t.amt : "") },
          position: pos[n.id], classes: ["group", nolabel].filter(Boolean).join(" ") });
        continue;
      }
      const cls = [n.category || "", n.endpoint ? "endpoint" : "", n.root ? "root" : "",
        n.chain !== "btc" && !n.transfers ? "foreign" : "", n.changed ? "changed" : "",
        nolabel].filter(Boolean).join(" ");
      const amt = amountText(n, this);
      els.push({ group: "nodes", data: { id: n.id, lane: n.chain,
        label: nodeTitle(n) + (amt ? "\n" + amt : "") }, position: pos[n.id], classes: cls });
    }
    /* edges of a mid-sized graph go without labels (their amounts are in the side panel):
     * measuring a label per edge is most of the drawing time */
    const bare = vis.length > 150;
    for (const e of this.big ? [] : lay.edges) {
      if (!pos[e.from] || !pos[e.to]) continue;
      const k = edgeKind(e);
      els.push({ group: "edges", data: { id: e.id, source: e.from, target: e.to,
        label: bare ? "" : this.edgeLabel(e) },
      classes: [k === "tx" ? "" : k, e.group ? "grouped" : ""].filter(Boolean).join(" ") });
    }
    const want = new Map(els.map((x) => [x.data.id, x]));
    cy.batch(() => {
      cy.elements().forEach((x) => { if (!want.has(x.id())) x.remove(); });
      const add = [];
      for (const x of els) {
        const cur = cy.getElementById(x.data.id);
        if (cur.empty()) { add.push(x); continue; }
        if (x.position) {
          const p = cur.position();
          if (p.x !== x.position.x || p.y !== x.position.y) cur.position(x.position);
        }
        for (const [k, v] of Object.entries(x.data))
          if (cur.data(k) !== v) cur.data(k, v);
        if (cur.classes().join(" ") !== (x.classes || "")) cur.classes(x.classes || "");
      }
      if (add.length) cy.add(add);
    });
    this.paintUnder();
    this.onchange(this);
  }

  /* After a change: a new graph is fitted; while the user has not moved the view by hand since
   * the last fit, a collapse re-fits (what is left fills the view) and so does an expansion
   * that put a node outside it. Once the user has moved it, the view stays, unless no node
   * would be in it at all (a collapse that left only nodes elsewhere: an empty canvas helps no
   * one). */
  refit(mode) {
    const e = this.extent, cy = this.cy;
    if (!e) return;
    if (mode === true) return this.fitAll();
    const z = cy.zoom(), p = cy.pan();
    const view = { x1: -p.x / z, y1: -p.y / z, x2: (cy.width() - p.x) / z, y2: (cy.height() - p.y) / z };
    const boxes = Object.values(this.lay.pos).map((q) => ({ x1: q.x - NODE_W / 2, x2: q.x + NODE_W / 2,
      y1: q.y - NODE_H / 2, y2: q.y + NODE_H / 2 }));
    const inside = (b) => b.x1 >= view.x1 && b.x2 <= view.x2 && b.y1 >= view.y1 && b.y2 <= view.y2;
    const meets = (b) => b.x2 > view.x1 && b.x1 < view.x2 && b.y2 > view.y1 && b.y1 < view.y2;
    if (!boxes.some(meets)) return this.fitAll();
    /* kept: say so when the change put nodes where the user is not looking */
    if (this.userMoved) return void (this.outside = boxes.filter((b) => !inside(b)).length);
    if (mode === "shrink" || !boxes.every(inside)) this.fitAll();
  }

  /* A big graph's labels follow the zoom: shown once they are readable. */
  labelSwitch() {
    const on = !this.big || this.cy.zoom() >= LABEL_ZOOM;
    if (this.drawing || on === this.labelsOn) return;
    this.labelsOn = on;
    this.cy.batch(() => this.cy.nodes().not(".lane").toggleClass("nolabel", !on));
  }

  /* The canvas under a big graph's nodes: lanes and edges (arrows at the target's border,
   * CoinJoin and cross-chain dashed), for the part of the graph in view. ctx may be another
   * canvas's (the PNG export) with its own transform. */
  paintUnder(ctx, box) {
    const cy = this.cy;
    let z = 1;
    if (!ctx) {
      const c = this.under, w = Math.max(1, Math.round(cy.width())), h = Math.max(1, Math.round(cy.height()));
      if (c.width !== w || c.height !== h) {
        c.width = w;
        c.height = h;
        c.style.width = w + "px";
        c.style.height = h + "px";
      }
      ctx = c.getContext("2d");
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, w, h);
      if (!this.big) return;
      z = cy.zoom();
      const p = cy.pan();
      ctx.setTransform(z, 0, 0, z, p.x, p.y);
      box = { x1: -p.x / z, y1: -p.y / z, x2: (w - p.x) / z, y2: (h - p.y) / z };
    } else {
      z = ctx.getTransform().a;
    }
    const { pos, lanes, laneTop } = this.lay;
    ctx.lineWidth = 1 / z;
    ctx.setLineDash([6 / z, 4 / z]);
    ctx.font = "16px sans-serif";
    ctx.textAlign = "center";
    for (const lane of lanes) {
      const L = laneTop[lane];
      const w = (L.max - L.min) * COL_W + 250, h = L.rows * ROW_H + 40;
      const x = (L.min + L.max) * COL_W / 2 - w / 2, y = L.top + (L.rows - 1) * ROW_H / 2 - h / 2;
      ctx.fillStyle = "rgba(247, 249, 251, 0.6)";
      ctx.fillRect(x, y, w, h);
      ctx.strokeStyle = "#b7c0cc";
      ctx.strokeRect(x, y, w, h);
      ctx.fillStyle = "#5b6675";
      ctx.fillText(LANE_NAMES[lane] || lane, x + w / 2, y - 6);
    }
    /* one path per kind of edge: lines, then the arrow heads */
    const paths = {};
    const arrow = 8 * z >= 3; /* heads smaller than 3 px are noise */
    for (const e of this.lay.edges) {
      const a = pos[e.from], b = pos[e.to];
      if (!a || !b || e.from === e.to) continue;
      if (Math.max(a.x, b.x) + NODE_W < box.x1 || Math.min(a.x, b.x) - NODE_W > box.x2 ||
          Math.max(a.y, b.y) + NODE_H < box.y1 || Math.min(a.y, b.y) - NODE_H > box.y2) continue;
      const k = edgeKind(e);
      const P = paths[k] || (paths[k] = { line: new Path2D(), head: new Path2D() });
      const [x1, y1] = boxExit(a.x, a.y, b.x, b.y), [x2, y2] = boxExit(b.x, b.y, a.x, a.y);
      P.line.moveTo(x1, y1);
      P.line.lineTo(x2, y2);
      if (!arrow) continue;
      const len = Math.hypot(x2 - x1, y2 - y1) || 1, ux = (x2 - x1) / len, uy = (y2 - y1) / len;
      P.head.moveTo(x2, y2);
      P.head.lineTo(x2 - 9 * ux - 4 * uy, y2 - 9 * uy + 4 * ux);
      P.head.lineTo(x2 - 9 * ux + 4 * uy, y2 - 9 * uy - 4 * ux);
      P.head.closePath();
    }
    for (const [k, P] of Object.entries(paths)) {
      ctx.strokeStyle = ctx.fillStyle = EDGE_COLORS[k];
      ctx.lineWidth = Math.max(k === "cross" ? 3 : 2, 1 / z); /* at least a pixel wide */
      /* dashes in screen pixels: model-sized ones at a far zoom are thousands of specks */
      ctx.setLineDash(k === "coinjoin" || k === "cross" ? [Math.max(8, 6 / z), Math.max(5, 4 / z)] : []);
      ctx.stroke(P.line);
      ctx.fill(P.head);
    }
    ctx.setLineDash([]);
  }

  /* The whole drawing as a PNG (a Blob): cytoscape's picture of the nodes, over the lanes and
   * edges when the graph is big. */
  async toPNG() {
    const cy = this.cy;
    const opts = { full: true, bg: "#ffffff", output: "blob", maxWidth: 8000, maxHeight: 8000 };
    if (!this.big) return cy.png(opts);
    const bb = cy.nodes().boundingBox();
    const img = await createImageBitmap(cy.png(Object.assign(opts, { bg: undefined })));
    const c = document.createElement("canvas");
    c.width = img.width;
    c.height = img.height;
    const ctx = c.getContext("2d");
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, c.width, c.height);
    const k = img.width / bb.w;
    ctx.setTransform(k, 0, 0, k, -bb.x1 * k, -bb.y1 * k);
    this.paintUnder(ctx, bb);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(img, 0, 0);
    return new Promise((res) => c.toBlob(res, "image/png"));
  }

  /* The drawing's box from the layout (cytoscape's own fit measures every label: seconds for
   * a thousand nodes). */
  extentOf(pos) {
    const ps = Object.values(pos);
    if (!ps.length) return null;
    const xs = ps.map((p) => p.x), ys = ps.map((p) => p.y);
    return { x1: Math.min(...xs) - 130, x2: Math.max(...xs) + 130, y1: Math.min(...ys) - 70,
      y2: Math.max(...ys) + 50 };
  }

  fitAll() {
    const e = this.extent, cy = this.cy;
    if (!e) return;
    const w = cy.width(), h = cy.height(), pad = 30;
    let z = Math.min((w - 2 * pad) / (e.x2 - e.x1), (h - 2 * pad) / (e.y2 - e.y1));
    z = Math.max(cy.minZoom(), Math.min(cy.maxZoom(), z, 1.5));
    this.userMoved = false;
    cy.viewport({ zoom: z, pan: { x: (w - z * (e.x1 + e.x2)) / 2, y: (h - z * (e.y1 + e.y2)) / 2 } });
  }

  /* The graph from a SPEC. In a case's graph (record) the start is recorded in the case (saved
   * when the key may write, audited always) and begins its saved graph anew. */
  async start(spec, record) {
    const body = { from: spec, limit: 200 };
    if (this.wantDigest) body.digest = true; /* a replay compares each answer with its step */
    if (record && this.caseId) Object.assign(body, { case: Number(this.caseId), policy: this.policy });
    const d = await CT.api("graph/start", { body });
    this.nodes.clear();
    this.edges.clear();
    this.shown.clear();
    for (const n of d.nodes) this.addNode(n, null, 0, null);
    this.truncated = d.truncated;
    return d;
  }

  /* start(), then for a tx where its inputs came from too (the victim of a theft): one
   * backward hop that is part of the start (not a step of its own). */
  async open(spec, record) {
    const d = await this.start(spec, record);
    const tx = /^[0-9a-fA-F]{64}$/.test(spec) && d.nodes.length;
    if (tx) {
      const all = [...this.nodes.values()].flatMap((n) => [...n.outputs.values()]);
      const body = { direction: "backward", policy: this.policy,
        outputs: all.slice(0, 1000).map((o) => ({ output: o.output, taint: o.value })) };
      const b = await CT.api("graph/expand", { body });
      for (const n of b.nodes) this.addNode(n, null, -1, null);
      for (const e of b.edges) this.addEdge(e, null);
      for (const n of b.nodes) this.nodes.get(n.id).root = true;
      /* the start nodes' evidence begins at the tx's payers */
      for (const e of this.edges.values()) {
        const t = this.nodes.get(e.to);
        if (t && !t.via && t.depth === 0) { t.via = e.id; t.parent = e.from; }
      }
    }
    this.draw(true);
    if (tx) this.select(d.nodes[0].id);
    return d;
  }

  /* A case's saved graph (GET /v1/cases/ID/graph): its start, then each expansion and collapse
   * in order, asked again of the service (not recorded again); drawn once at the end. Steps
   * whose node is no longer there (another store state) are counted, not fatal. */
  async replay(steps) {
    const policy = this.policy;
    let missed = 0;
    const changed = [];
    /* each saved step keeps its answer's digest: one that now differs is evidence that the
     * store (blocks, labels, links) changed since the step was taken */
    const differs = (st, d) => st.detail && st.detail.digest && d && d.digest &&
      d.digest !== st.detail.digest;
    this.policy = steps[0].policy || policy;
    this.wantDigest = true;
    const d0 = await this.open(steps[0].spec, false);
    if (differs(steps[0], d0)) {
      changed.push(steps[0]);
      for (const n of this.nodes.values()) if (n.depth === 0) n.changed = steps[0];
    }
    for (const st of steps.slice(1)) {
      if (!this.nodes.has(st.node)) { missed++; continue; }
      if (st.op === "expand") {
        this.policy = st.policy || policy;
        const d = await this.expand(st.node, st.direction, { record: false, quiet: true });
        if (differs(st, d)) {
          changed.push(st);
          this.nodes.get(st.node).changed = st;
        }
      } else if (st.op === "collapse") {
        await this.collapse(st.node, { record: false, quiet: true });
      }
    }
    this.policy = policy;
    this.wantDigest = false;
    this.changed = changed;
    this.draw(true);
    return { missed, changed: changed.length };
  }

  /* One hop next ("forward") or previous ("backward") from a node's outputs. */
  async expand(id, direction, opts = {}) {
    const s = this.nodes.get(id);
    if (!s || s.expanded[direction] || !s.expandable) return null;
    if (s.chain !== "btc") return s.transfers ? this.expandEvm(s, direction, opts) : null;
    let outs = [...s.outputs.values()].map((o) => ({ output: o.output,
      taint: [...o.by.values()].reduce((a, b) => a + b, 0), spent: o.spent }))
      .filter((o) => o.taint > 0 && (direction === "backward" || o.spent));
    outs.sort((a, b) => b.taint - a.taint);
    const cut = outs.length > 1000;
    outs = outs.slice(0, 1000);
    if (!outs.length) {
      s.expanded[direction] = true;
      s.note = direction === "forward" ? "nothing to follow forward: its tainted outputs are " +
        "unspent or at a service" : "nothing before it";
      this.select(id);
      return null;
    }
    const body = { direction, policy: this.policy,
      outputs: outs.map((o) => ({ output: o.output, taint: o.taint })) };
    if (this.wantDigest) body.digest = true;
    /* in a case's graph every expansion is in its audit log (and saved, for analysts) */
    if (this.caseId && opts.record !== false)
      Object.assign(body, { case: Number(this.caseId), node: id });
    const d = await CT.api("graph/expand", { body });
    s.expanded[direction] = true;
    s.cut = cut;
    const step = direction === "forward" ? 1 : -1;
    this.merge(s, d, direction);
    s.stopped = d.stopped;
    s.fees = (s.fees || 0) + d.fees;
    if (opts.quiet) return d;
    this.draw("grow");
    this.select(id);
    return d;
  }

  /* The nodes and edges of an expansion's answer, reached from node s. */
  merge(s, d, direction) {
    const step = direction === "forward" ? 1 : -1;
    for (const n of d.nodes) {
      const e = d.edges.find((x) => (direction === "forward" ? x.to : x.from) === n.id);
      /* a cross-chain node goes into its own lane at the hop's column */
      this.addNode(n, s.id, s.depth + step, e ? edgeId(e) : null);
    }
    for (const e of d.edges) this.addEdge(e, s.id);
  }

  /* One hop of an EVM node (POST /v1/graph/expand with its transfers and their parts): next,
   * its transfers that took the taint on; previous, who sent it and from what. */
  async expandEvm(s, direction, opts) {
    let xs = [...s.transfers.values()].map((t) => ({ xfer: t.xfer,
      taint: [...t.by.values()].reduce((a, b) => a + BigInt(b), 0n), fate: t.fate }))
      .filter((t) => t.taint > 0n && (direction === "backward" ||
        (t.fate !== "endpoint" && t.fate !== "swapped")));
    xs.sort((a, b) => (a.taint < b.taint ? 1 : a.taint > b.taint ? -1 : a.xfer - b.xfer));
    const cut = xs.length > 1000;
    xs = xs.slice(0, 1000);
    if (!xs.length) {
      s.expanded[direction] = true;
      s.note = direction === "forward" ? "nothing to follow forward: its tainted transfers " +
        "went into a service" : "nothing before it";
      this.select(s.id);
      return null;
    }
    const body = { chain: s.chain, direction, policy: this.policy,
      transfers: xs.map((t) => ({ xfer: t.xfer, taint: t.taint.toString() })) };
    if (this.wantDigest) body.digest = true;
    if (this.caseId && opts.record !== false)
      Object.assign(body, { case: Number(this.caseId), node: s.id });
    const d = await CT.api("graph/expand", { body });
    s.expanded[direction] = true;
    s.cut = cut;
    this.merge(s, d, direction);
    s.evmAssets = d.assets;
    if (opts.quiet) return d;
    this.draw("grow");
    this.select(s.id);
    return d;
  }

  /* Remove what a node's expansions added (recursively), unless reached another way. In a
   * case's graph an analyst's collapse is saved with the case (after it is drawn). */
  async collapse(id, opts = {}) {
    if (!this.nodes.has(id)) return;
    this.collapseState(id);
    if (!opts.quiet) {
      this.draw("shrink");
      this.select(id);
    }
    if (this.caseId && opts.record !== false && CT.session.can("write"))
      await CT.api("cases/" + this.caseId + "/graph", { body: { op: "collapse", node: id } });
  }

  collapseState(id) {
    const s = this.nodes.get(id);
    if (!s) return;
    for (const c of s.added) this.collapseState(c);
    for (const eid of s.addedEdges) this.edges.delete(eid);
    for (const c of s.added) {
      const keep = [...this.edges.values()].some((e) => e.from === c || e.to === c);
      if (!keep) this.nodes.delete(c);
    }
    s.added = [];
    s.addedEdges = [];
    s.expanded = {};
    for (const k of [...this.shown.keys()]) if (JSON.parse(k)[0] === id) this.shown.delete(k);
  }

  /* The evidence path: from a start node to this one, each step the edge that first reached
   * the next node (its tx, amount and markers). */
  pathTo(id) {
    const path = [];
    const seen = new Set();
    let cur = this.nodes.get(id);
    while (cur && cur.via && !seen.has(cur.id)) {
      seen.add(cur.id);
      const e = this.edges.get(cur.via);
      if (!e) break;
      path.unshift({ edge: e, node: cur });
      cur = this.nodes.get(cur.parent);
    }
    return { start: cur, steps: path };
  }

  select(id) {
    const s = this.nodes.get(id);
    this.cy.$(":selected").unselect();
    if (!s) return;
    this.selected = id;
    if (this.lay && this.lay.hidden.has(id)) {
      /* a grouped node asked for (its evidence, a test): its group is shown whole */
      const g = this.lay.groups.get(this.lay.hidden.get(id));
      this.shown.set(g.key, g.members.length);
      this.draw("grow");
    }
    this.cy.getElementById(id).select();
    this.panel(s);
  }

  /* The side panel of a group node: what it holds, and buttons to draw more of it. */
  selectGroup(gid) {
    const g = this.lay && this.lay.groups.get(gid);
    this.cy.$(":selected").unselect();
    if (!g) return;
    this.cy.getElementById(gid).select();
    this.selected = null;
    const t = this.groupText(g);
    const side = CT.clear(this.side);
    side.appendChild(CT.h("h2", { id: "side-title" }, t.title));
    side.appendChild(CT.h("p", { id: "side-group-text" }, g.hidden.length + " more nodes reached by " +
      (g.owner ? "the expansion of " + t.owner : "the start") + " in this column (" +
      (LANE_NAMES[g.chain] || g.chain) + ", hop " + g.depth + ") are grouped here" +
      (t.amt ? ": together " + t.amt : "") + ". Double-click the group to draw " + (GROUP_MAX - 1) +
      " more."));
    side.appendChild(CT.h("div", { class: "row" },
      CT.h("button", { id: "btn-more", type: "button", onclick: () => this.showMore(gid, GROUP_MAX - 1) },
        "Show " + Math.min(GROUP_MAX - 1, g.hidden.length) + " more"),
      CT.h("button", { id: "btn-all", type: "button", onclick: () => this.showMore(gid, Infinity) },
        "Show all " + g.hidden.length)));
    const rows = g.hidden.slice(0, 500).map((id) => {
      const n = this.nodes.get(id);
      return [nodeTitle(n), amountText(n, this)];
    });
    side.appendChild(CT.table(["node", "tainted"], rows, { id: "side-group" }));
  }

  /* Draw k more of a group's nodes (Infinity: all of them). */
  showMore(gid, k) {
    const g = this.lay && this.lay.groups.get(gid);
    if (!g) return;
    const cur = this.shown.get(g.key) || GROUP_MAX - 1;
    this.shown.set(g.key, Math.min(g.members.length, cur + k));
    this.draw("grow");
    if (this.lay.groups.has(gid)) this.selectGroup(gid);
    else CT.clear(this.side);
  }

  /* Group a node's receivers again (after "Show more"). */
  regroup(id) {
    for (const k of [...this.shown.keys()]) if (JSON.parse(k)[0] === id) this.shown.delete(k);
    this.draw("shrink");
    this.select(id);
  }

  panel(s) {
    const side = CT.clear(this.side);
    const amount = this.amountOf(s);
    side.appendChild(CT.h("h2", { id: "side-title" }, nodeTitle(s)));
    const facts = [];
    facts.push(CT.h("dt", {}, "node"), CT.h("dd", { id: "side-id" }, s.id));
    facts.push(CT.h("dt", {}, "chain"), CT.h("dd", {}, LANE_NAMES[s.chain] || s.chain));
    if (s.category) facts.push(CT.h("dt", {}, "category"), CT.h("dd", { id: "side-category" }, s.category));
    if (s.chain === "btc")
      facts.push(CT.h("dt", {}, "tainted"), CT.h("dd", { id: "side-amount" }, CT.amount(amount)));
    if (s.transfers)
      facts.push(CT.h("dt", {}, "tainted"), CT.h("dd", { id: "side-amount" },
        evmAmounts(s).map((a) => CT.h("div", { class: "amount", dataset: { base: a.total.toString(),
          asset: a.asset } }, CT.dec(a.total.toString(), a.decimals, a.symbol || a.asset)))));
    if (s.actor_from && s.chain !== "btc")
      facts.push(CT.h("dt", {}, "named by"), CT.h("dd", { id: "side-actor-from" }, s.actor_from));
    if (s.entity !== undefined)
      facts.push(CT.h("dt", {}, "entity"), CT.h("dd", {}, CT.link("e" + s.entity, "entity",
        String(s.entity)), s.size ? " (" + s.size + " addresses)" : ""));
    if (s.address) facts.push(CT.h("dt", {}, "address"), CT.h("dd", { class: "mono", id: "side-address" },
      CT.link(CT.short(s.address, 12), s.chain === "btc" ? "address" : "labels", s.address)));
    if (s.endpoint) facts.push(CT.h("dt", {}, "endpoint"), CT.h("dd", {}, "a labelled service"));
    if (s.fees) facts.push(CT.h("dt", {}, "fees"), CT.h("dd", {}, CT.amount(s.fees)));
    side.appendChild(CT.h("dl", { class: "facts" }, facts));
    if (s.label) side.appendChild(CT.h("div", { class: "labelcard", id: "side-label" },
      CT.h("strong", {}, "label"), CT.labelBlock(s.label)));
    if (s.note) side.appendChild(CT.h("p", { class: "muted", id: "side-note" }, s.note));
    if (s.changed) side.appendChild(CT.h("p", { class: "warn", id: "side-changed" },
      "Store changed since this step: its " + s.changed.op + " (" + (s.changed.direction || "start") +
      ", by " + s.changed.analyst + " at " + s.changed.at + ") now answers differently (saved " +
      CT.short(s.changed.detail.digest, 12) + ")."));
    const canExpand = s.expandable && (s.chain === "btc" || !!s.transfers);
    side.appendChild(CT.h("div", { class: "row" },
      CT.h("button", { id: "btn-next", type: "button", disabled: !canExpand || !!s.expanded.forward,
        onclick: () => this.expand(s.id, "forward").catch((e) => CT.banner(e.message, "error")) },
      "Next hops →"),
      CT.h("button", { id: "btn-prev", type: "button", disabled: !canExpand || !!s.expanded.backward,
        onclick: () => this.expand(s.id, "backward").catch((e) => CT.banner(e.message, "error")) },
      "← Previous hops"),
      CT.h("button", { id: "btn-collapse", type: "button", disabled: !s.added.length,
        onclick: () => this.collapse(s.id).catch((e) => CT.banner(e.message, "error")) },
      "Collapse"),
      [...this.shown.keys()].some((k) => JSON.parse(k)[0] === s.id) ? CT.h("button", { id: "btn-regroup",
        type: "button", onclick: () => this.regroup(s.id) }, "Group receivers") : null));
    if (s.cut) side.appendChild(CT.h("p", { class: "muted" },
      "Only its 1000 most tainted outputs were expanded."));
    /* the evidence path */
    const p = this.pathTo(s.id);
    side.appendChild(CT.h("h3", {}, "Evidence path"));
    const ol = CT.h("ol", { id: "side-path", class: "path" });
    if (p.start) ol.appendChild(CT.h("li", {}, CT.h("strong", {}, nodeTitle(p.start)),
      " (start)"));
    for (const st of p.steps) {
      const e = st.edge;
      ol.appendChild(CT.h("li", { dataset: { sats: String(e.amount) } },
        e.kind === "cross_chain" ? "cross-chain (" + e.method + ", confidence " + e.confidence + ")"
          : e.kind === "transfer" ? [e.chain + " tx ", CT.h("span", { class: "mono", title: e.tx },
            CT.short(e.tx, 8)), " (block " + e.height + ")"]
            : ["tx ", CT.link(CT.short(e.tx, 8), "tx", e.tx), " (block " + e.height + ")"],
        " → ", CT.h("strong", {}, nodeTitle(st.node)), ": ",
        e.kind === "btc" || e.kind === "tx" ? CT.amount(e.amount) : edgeAmount(e),
        markerText(e.patterns).length ? " · " + markerText(e.patterns).join(", ") : ""));
    }
    side.appendChild(ol);
    if (s.chain === "btc" && s.outputs.size) {
      side.appendChild(CT.h("h3", {}, "Tainted outputs"));
      const rows = [...s.outputs.values()].slice(0, 200).map((o) => {
        const taint = [...o.by.values()].reduce((a, b) => a + b, 0);
        const [txid, n] = o.output.split(":");
        return [CT.link(CT.short(txid, 6) + ":" + n, "tx", txid),
          CT.h("span", { class: "amount", dataset: { sats: String(taint), output: o.output } },
            CT.btc(taint)),
          o.fate === "endpoint" ? "at a service" : o.spent ? "spent" : "unspent"];
      });
      side.appendChild(CT.table(["output", "taint", ""], rows, { id: "side-outputs" }));
    }
    if (s.transfers && s.transfers.size) {
      side.appendChild(CT.h("h3", {}, "Tainted transfers"));
      const rows = [...s.transfers.values()].slice(0, 200).map((t) => {
        const taint = [...t.by.values()].reduce((a, b) => a + BigInt(b), 0n).toString();
        return [CT.h("span", { class: "mono", title: t.transfer }, CT.short(t.transfer, 8)),
          CT.h("span", { class: "amount", dataset: { base: taint, xfer: String(t.xfer) } },
            CT.dec(taint, t.decimals, t.symbol || t.asset)),
          t.fate === "endpoint" ? "at a service" : t.fate === "swapped" ? "swapped" : ""];
      });
      side.appendChild(CT.table(["transfer", "taint", ""], rows, { id: "side-transfers" }));
    }
    if (s.evmAssets && s.evmAssets.length)
      side.appendChild(CT.h("p", { class: "muted", id: "side-evm-fees" }, "fees of its hop: " +
        s.evmAssets.map((a) => CT.dec(a.fees, a.decimals, a.symbol || a.asset)).join(", ")));
    if (s.stopped && s.stopped.length)
      side.appendChild(CT.h("p", { class: "muted" }, s.stopped.length +
        " output(s) did not move on (" + [...new Set(s.stopped.map((x) => x.fate))].join(", ") + ")."));
    const tools = CT.caseTools && CT.caseTools(this.caseId, s);
    if (tools) side.appendChild(tools);
  }

  /* The drawing as SVG, built with DOM calls (every text is a text node) and serialised. */
  toSVG() {
    const NS = "http://www.w3.org/2000/svg";
    const { pos, lanes, laneTop, vis, edges } = this.layout(); /* as drawn: groups too */
    const e = this.extentOf(pos) || { x1: 0, x2: 100, y1: 0, y2: 100 };
    const el = (tag, attrs, text) => {
      const x = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) x.setAttribute(k, String(v));
      if (text !== undefined) x.textContent = text;
      return x;
    };
    const svg = el("svg", { xmlns: NS, viewBox: [e.x1 - 20, e.y1 - 40, e.x2 - e.x1 + 40,
      e.y2 - e.y1 + 80].join(" "), "font-family": "sans-serif" });
    const defs = el("defs", {});
    const m = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8,
      markerHeight: 8, orient: "auto-start-reverse" });
    m.appendChild(el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#7f8a99" }));
    defs.appendChild(m);
    svg.appendChild(defs);
    for (const lane of lanes) {
      const L = laneTop[lane];
      svg.appendChild(el("rect", { x: L.min * COL_W - 130, y: L.top - 60, width: (L.max - L.min) * COL_W + 260,
        height: L.rows * ROW_H + 40, fill: "#f7f9fb", stroke: "#b7c0cc", "stroke-dasharray": "6 4" }));
      svg.appendChild(el("text", { x: L.min * COL_W - 120, y: L.top - 40, "font-size": 16,
        fill: "#5b6675" }, LANE_NAMES[lane] || lane));
    }
    for (const ed of edges) {
      const a = pos[ed.from], b = pos[ed.to];
      if (!a || !b) continue;
      svg.appendChild(el("line", { x1: a.x + 95, y1: a.y, x2: b.x - 95, y2: b.y, stroke: ed.kind ===
        "cross_chain" ? "#d9822b" : "#7f8a99", "stroke-width": 2, "marker-end": "url(#arrow)" }));
      svg.appendChild(el("text", { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 4, "font-size": 10,
        "text-anchor": "middle" }, this.edgeLabel(ed)));
    }
    const fills = { exchange: "#dbe9ff", otc: "#dbe9ff", theft: "#ffe1e1", sanctioned: "#ffe1e1",
      mixer: "#efe3ff", bridge: "#ffeed8", swap: "#ffeed8" };
    for (const n of vis) {
      const p = pos[n.id];
      const t = n.group ? this.groupText(n.group) : { title: nodeTitle(n), amt: amountText(n, this) };
      svg.appendChild(el("rect", { x: p.x - 95, y: p.y - 28, width: 190, height: 56, rx: 8,
        fill: n.group ? "#ffffff" : fills[n.category] || "#eef1f5", stroke: "#8a94a6",
        "stroke-width": n.endpoint ? 4 : 1, "stroke-dasharray": n.group ? "6 4" : "none" }));
      svg.appendChild(el("text", { x: p.x, y: p.y - 4, "font-size": 12, "text-anchor": "middle" },
        t.title));
      if (t.amt)
        svg.appendChild(el("text", { x: p.x, y: p.y + 14, "font-size": 12, "text-anchor": "middle" },
          t.amt));
    }
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(svg);
  }

  /* The graph in Graphviz's DOT (left to right; quotes and backslashes escaped). */
  toDOT() {
    const q = (t) => '"' + String(t).replace(/\\/g, "\\\\").replace(/"/g, '\\"')
      .replace(/\r?\n/g, "\\n") + '"';
    const lines = ["digraph cointrail {", "  rankdir=LR;", "  node [shape=box, style=rounded];"];
    for (const n of this.nodes.values())
      lines.push("  " + q(n.id) + " [label=" + q(nodeTitle(n) + (amountText(n, this) ? "\n" +
        amountText(n, this) : "")) + (n.category ? ", tooltip=" + q(n.category) : "") + "];");
    for (const e of this.edges.values()) {
      const marks = markerText(e.patterns);
      lines.push("  " + q(e.from) + " -> " + q(e.to) + " [label=" + q(edgeAmount(e) + (marks.length ? " " +
        marks.join(" ") : "")) + (e.tx ? ", tooltip=" + q(e.tx) : "") +
        (e.kind === "cross_chain" ? ", style=dashed" : "") + "];");
    }
    lines.push("}");
    return lines.join("\n") + "\n";
  }
}

CT.Graph = Graph;

CT.pages.graph = async function (view) {
  view.className = "wide";
  const q = CT.query();
  const spec = CT.h("input", { id: "graph-from", type: "text", value: q.get("from") || "",
    placeholder: "start from a txid, TXID:N, an address, entity:ID, or a 0x address or tx", size: 70 });
  const policy = CT.h("select", { id: "graph-policy" },
    ["haircut", "poison", "fifo"].map((p) => CT.h("option", { value: p,
      selected: (q.get("policy") || "haircut") === p }, p)));
  const go = CT.h("button", { id: "graph-go", type: "submit" }, "Open");
  const fit = CT.h("button", { id: "graph-fit", type: "button" }, "Fit");
  const png = CT.h("button", { id: "graph-png", type: "button" }, "PNG");
  const svgB = CT.h("button", { id: "graph-svg", type: "button" }, "SVG");
  const dotB = CT.h("button", { id: "graph-dot", type: "button" }, "DOT");
  const stats = CT.h("span", { id: "graph-stats", class: "muted" });
  const form = CT.h("form", { class: "toolbar" }, spec, policy, go, fit, png, svgB, dotB, stats);
  const cyEl = CT.h("div", { id: "cy" });
  const side = CT.h("aside", { id: "side" }, CT.h("p", { class: "muted" },
    "Click a node for its details and evidence path; double-click to follow it a hop forward. " +
    "Drag to pan, scroll to zoom."));
  view.appendChild(form);
  view.appendChild(CT.h("div", { class: "legend" },
    "markers: CoinJoin (dashed purple) · peel (green) · split · merge · bridge/swap (orange) · " +
    "cross-chain (dashed orange); thick border: reached a service"));
  view.appendChild(CT.h("div", { class: "graphwrap" }, cyEl, side));
  if (typeof cytoscape === "undefined") {
    side.textContent = "The graph library is missing: run `npm ci` in web/ and build again.";
    return;
  }
  const g = new CT.Graph(cyEl, side, { policy: policy.value, onchange: (gr) => {
    const grouped = gr.lay ? gr.lay.hidden.size : 0;
    stats.textContent = gr.nodes.size + " nodes, " + gr.edges.size + " edges" +
      (grouped ? " (" + grouped + " nodes in " + gr.lay.groups.size + " group(s))" : "") +
      (gr.outside ? "; " + gr.outside + " nodes outside the view you moved to: \"Fit\" shows all" : "");
  } });
  CT.graph = g;
  fit.addEventListener("click", () => {
    g.fitAll();
    g.outside = 0;
    g.onchange(g);
  });
  png.addEventListener("click", async () => {
    const data = await g.toPNG();
    const url = URL.createObjectURL(data);
    const a = CT.h("a", { href: url, download: "graph.png", hidden: true });
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 1000);
  });
  svgB.addEventListener("click", () => CT.download("graph.svg", "image/svg+xml", g.toSVG()));
  dotB.addEventListener("click", () => CT.download("graph.dot", "text/vnd.graphviz", g.toDOT()));
  policy.addEventListener("change", () => { g.policy = policy.value; });
  const caseId = q.get("case");
  const caseLine = CT.h("span", { id: "graph-saved", class: "muted" });
  if (caseId && /^[1-9][0-9]{0,15}$/.test(caseId)) {
    g.caseId = caseId;
    view.insertBefore(CT.h("p", { id: "graph-case" }, "Case ", CT.link(caseId, "case", caseId),
      ": the graph is saved with the case, every expansion is in its audit log; labels and " +
      "notes from the side panel go to this case. ", caseLine), form);
    g.cy.resize(); /* the drawing moved down: cytoscape caches where its container is */
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    CT.go("#/graph?from=" + encodeURIComponent(spec.value.trim()) + "&policy=" + policy.value +
      (g.caseId ? "&case=" + g.caseId : ""));
  });
  g.loading = true; /* until the first drawing is complete (tests wait for it) */
  try {
    let from = q.get("from");
    if (!from && g.caseId) {
      /* a case's graph: its saved graph, else from its first Bitcoin seed */
      const saved = await CT.api("cases/" + g.caseId + "/graph");
      if (saved.steps.length && saved.steps[0].op === "start") {
        spec.value = saved.steps[0].spec;
        const { missed, changed } = await g.replay(saved.steps);
        const last = saved.steps[saved.steps.length - 1];
        caseLine.textContent = "Saved graph: " + saved.steps.length + " step(s), the last by " +
          last.analyst + " at " + last.at + " (block " + last.store_state.btc_height +
          (last.store_state.evm_chain ? ", " + last.store_state.evm_chain + " block " +
            last.store_state.evm_height : "") + ")" +
          (missed ? "; " + missed + " step(s) no longer apply on this store state" : "") +
          (changed ? "; " + changed + " step(s) answer differently: store changed since this step" : "") + ".";
        caseLine.dataset.changed = String(changed);
        return;
      }
      const c = await CT.api("cases/" + g.caseId);
      const seed = c.seeds.find((x) => x.chain === "btc") || c.seeds.find((x) => /^0x/i.test(x.spec));
      if (!seed) { side.textContent = "This case has no seed yet."; return; }
      from = seed.spec;
      spec.value = from;
    }
    if (!from) return;
    const d = await g.open(from, !!g.caseId);
    if (!d.nodes.length) CT.notFound(side, "nothing to draw from " + from);
  } finally {
    g.loading = false;
  }
};
