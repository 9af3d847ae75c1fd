/* cointrail web UI: cases (docs/webui.md, "Cases"): the case list, a case page (incident,
 * seeds, trace runs with their endpoints by actor, analyst labels, notes, the audit log) and
 * the exports (the case module's HTML report, the endpoints as CSV, the whole case as JSON).
 * Everything goes through /v1/cases, which records who did what in the case's audit log. */
"use strict";

/* A form of labelled inputs; fields: [name, label, attrs]. */
function form(id, fields, submit, onsubmit) {
  const inputs = {};
  const msg = CT.h("span", { class: "muted", id: id + "-msg" });
  const f = CT.h("form", { id, class: "card form" },
    fields.map(([name, label, attrs]) => {
      const el = (attrs && attrs.textarea) ? CT.h("textarea", Object.assign({ name, id: id + "-" + name,
        rows: 3 }, attrs, { textarea: null }))
        : CT.h("input", Object.assign({ name, id: id + "-" + name, type: "text" }, attrs || {}));
      inputs[name] = el;
      return CT.h("label", { class: "field" }, CT.h("span", {}, label), el);
    }),
    CT.h("div", { class: "row" }, CT.h("button", { type: "submit", id: id + "-submit" }, submit), msg));
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = {};
    for (const [k, el] of Object.entries(inputs)) v[k] = el.value;
    msg.textContent = "…";
    try {
      await onsubmit(v, inputs);
      msg.textContent = "saved";
    } catch (e) {
      msg.textContent = e.message;
      msg.className = "error-text";
    }
  });
  return f;
}

/* A file from /v1 (with the key) saved by the browser. */
CT.fetchDownload = async function (path, name, type) {
  const res = await fetch("/v1/" + path, { headers: { "X-API-Key": CT.session.key() || "" },
    credentials: "omit", cache: "no-store" });
  if (!res.ok) throw new CT.ApiError(res.status, res.status + " " + res.statusText);
  CT.download(name, type, await res.text());
};

CT.pages.cases = async function (view) {
  const d = await CT.api("cases");
  view.appendChild(CT.h("h1", {}, "Cases"));
  view.appendChild(d.cases.length ? CT.table(
    ["id", "title", "status", "incident", "victim", "chains", "seeds", "runs", "labels", "notes",
      "opened by"],
    d.cases.map((c) => [String(c.id), CT.link(c.title, "case", String(c.id)), c.status,
      c.incident_date, c.victim, c.chains, c.seeds, c.runs, c.labels, c.notes,
      c.created_by + " " + c.created_at]), { id: "cases-table" })
    : CT.h("p", { class: "muted", id: "no-cases" }, "No case yet."));
  if (!CT.session.can("write")) return;
  view.appendChild(CT.h("h2", {}, "New case"));
  view.appendChild(form("newcase", [["title", "title", { required: true }],
    ["incident_date", "incident date", { placeholder: "YYYY-MM-DD" }], ["victim", "victim"],
    ["chains", "chains", { value: "btc" }], ["description", "description", { textarea: true }]],
  "Open the case", async (v) => {
    const r = await CT.api("cases", { body: v });
    CT.go("#/case/" + r.id);
  }));
};

function runBlock(run, caseId) {
  const byActor = new Map();
  for (const e of run.endpoints) {
    const k = e.actor || e.name || "(unlabelled)";
    const a = byActor.get(k) || { actor: k, category: e.category, amount: 0n, deposits: 0, addrs: 0 };
    a.amount += BigInt(e.amount);
    a.deposits += e.deposits;
    a.addrs += 1;
    byActor.set(k, a);
  }
  const actors = [...byActor.values()].sort((a, b) => (b.amount > a.amount ? 1 : -1));
  const seeded = run.totals.find((t) => t.bucket === "seeded");
  return CT.h("div", { class: "card run", id: "run-" + run.id },
    CT.h("h3", {}, "Run " + run.id + (run.rerun_of ? " (re-run of " + run.rerun_of + ")" : "")),
    CT.h("p", { class: "muted" }, run.run_by + " · " + run.run_at + " · " + run.options.policy +
      " " + run.options.direction + ", " +
      (run.options.hops == null ? "no hop limit" : run.options.hops + " hops") + " · block " +
      run.store_state.btc_height + " " + CT.short(run.store_state.btc_tip || "", 8) +
      (run.partial ? " · partial" : "")),
    seeded ? CT.h("p", {}, "seeded ", CT.amount(Number(seeded.amount))) : null,
    CT.table(["actor", "category", "amount", "deposits", "addresses"], actors.map((a) =>
      [a.actor, a.category, CT.amount(Number(a.amount)), a.deposits, a.addrs]),
    { class: "actors", id: "run-" + run.id + "-actors" }),
    CT.h("p", {}, "Reproduce: ", CT.h("code", {}, run.command)),
    CT.h("p", {}, CT.graphLink("Open the graph of this case", null, caseId)));
}

CT.pages.case = async function (view, id) {
  if (!/^[1-9][0-9]{0,15}$/.test(id)) return CT.notFound(view, "no case " + id);
  const d = await CT.api("cases/" + id);
  const c = d.case;
  const write = CT.session.can("write");
  view.appendChild(CT.h("h1", {}, "Case " + c.id + ": ", CT.h("span", { id: "case-title" }, c.title)));
  view.appendChild(CT.h("dl", { class: "facts" },
    CT.h("dt", {}, "status"), CT.h("dd", {}, c.status),
    CT.h("dt", {}, "incident"), CT.h("dd", {}, c.incident_date || "—"),
    CT.h("dt", {}, "victim"), CT.h("dd", { id: "case-victim" }, c.victim || "—"),
    CT.h("dt", {}, "chains"), CT.h("dd", {}, c.chains),
    CT.h("dt", {}, "opened"), CT.h("dd", {}, c.created_by + " " + c.created_at),
    CT.h("dt", {}, "description"), CT.h("dd", { class: "pre" }, c.description || "—"),
    CT.h("dt", {}, "audit log"), CT.h("dd", { id: "case-audit-ok" },
      d.audit_verified ? "hash chain verified" : "BROKEN at row " + d.audit_first_bad_row)));
  const exp = (what, name, type) => CT.h("button", { type: "button", id: "export-" + what.split(".")[0],
    onclick: () => CT.fetchDownload("cases/" + id + "/" + what, name, type)
      .catch((e) => CT.banner(e.message, "error")) }, name);
  view.appendChild(CT.h("div", { class: "row" }, CT.h("strong", {}, "Export: "),
    exp("report.html", "case-" + id + ".html", "text/html"),
    exp("endpoints.csv", "case-" + id + "-endpoints.csv", "text/csv"),
    CT.h("button", { type: "button", id: "export-json", onclick: () =>
      CT.download("case-" + id + ".json", "application/json", JSON.stringify(d, null, 2)) },
    "case-" + id + ".json"),
    CT.graphLink("Graph", null, id)));

  view.appendChild(CT.h("h2", {}, "Seeds"));
  view.appendChild(CT.table(["id", "chain", "kind", "spec", "outputs", "amount", "note", "added"],
    d.seeds.map((s) => [String(s.id), s.chain, s.kind,
      s.chain === "btc" ? CT.graphLink(CT.short(s.spec, 14), s.spec, id) : s.spec,
      s.refs, s.amount ? CT.amount(Number(s.amount)) : "", s.note, s.added_by + " " + s.added_at]),
  { id: "case-seeds" }));
  if (write) view.appendChild(form("addseed", [["spec", "seed (TXID, TXID:N, address)"],
    ["note", "note"]], "Add seed", async (v) => {
    await CT.api("cases/" + id + "/seeds", { body: v });
    CT.render();
  }));

  view.appendChild(CT.h("h2", {}, "Trace runs"));
  if (write) view.appendChild(form("runtrace", [["hops", "hops", { type: "number", min: 1, max: 1000,
    placeholder: "no limit" }],
    ["policy", "policy", { value: "haircut" }], ["direction", "direction", { value: "forward" }]],
  "Trace the seeds", async (v) => {
    // left empty: no hop limit (the service's budget of visited outputs bounds the trace)
    await CT.api("cases/" + id + "/traces", { body: { hops: v.hops ? Number(v.hops) : undefined,
      policy: v.policy, direction: v.direction } });
    CT.render();
  }));
  for (const run of d.runs.slice().reverse()) view.appendChild(runBlock(run, id));

  view.appendChild(CT.h("h2", {}, "Analyst labels"));
  view.appendChild(CT.table(["chain", "address", "category", "actor", "name", "confidence",
    "evidence", "by"], d.labels.map((l) => [l.chain, l.chain === "btc" ? CT.link(l.address,
    "address", l.address) : l.address, l.category, l.actor, l.name, l.confidence, l.evidence,
  l.author + " " + l.created_at]), { id: "case-labels" }));
  view.appendChild(CT.h("h2", {}, "Notes"));
  view.appendChild(CT.h("div", { id: "case-notes" }, d.notes.map((n) => CT.h("div", { class: "note card" },
    CT.h("p", { class: "muted" }, n.author + " · " + n.created_at), CT.h("p", { class: "pre" }, n.text)))));
  if (write) view.appendChild(form("addnote", [["text", "note", { textarea: true }]], "Add note",
    async (v) => {
      await CT.api("cases/" + id + "/notes", { body: v });
      CT.render();
    }));
  view.appendChild(CT.h("h2", {}, "Audit log"));
  view.appendChild(CT.table(["#", "at", "analyst", "action", "command", "block"],
    d.audit.map((a) => [String(a.id), a.at, a.analyst, a.action, a.command,
      a.store_state.btc_height === null ? "" : String(a.store_state.btc_height)]), { id: "case-audit" }));
};

/* The side panel's case tools for a graph node: label it, note it (analysts). */
CT.caseTools = function (caseId, node) {
  if (!caseId || !CT.session.can("write") || !node.address) return null;
  const box = CT.h("div", { id: "case-tools" }, CT.h("h3", {}, "Case " + caseId));
  box.appendChild(form("nodelabel", [["category", "category", { value: node.category || "theft" }],
    ["actor", "actor", { value: node.name || "" }], ["evidence", "evidence",
      { value: "graph: node " + node.id }], ["confidence", "confidence", { type: "number", value: 80, min: 0, max: 100 }]],
  "Label " + CT.short(node.address, 6), async (v) => {
    await CT.api("cases/" + caseId + "/labels", { body: { chain: node.chain, address: node.address,
      category: v.category, actor: v.actor, evidence: v.evidence, confidence: Number(v.confidence) } });
  }));
  box.appendChild(form("nodenote", [["text", "note", { textarea: true }]], "Add note", async (v, inputs) => {
    await CT.api("cases/" + caseId + "/notes", { body: { text: "[" + node.id + "] " + v.text } });
    inputs.text.value = "";
  }));
  return box;
};
