/* cointrail web UI: the screening page for compliance analysts. Paste addresses and txids or
 * upload a CSV (any column holding them is read), get the risk table with its reasons, and
 * download it as CSV. The screening itself is POST /v1/screen/batch (docs/screening.md). */
"use strict";

/* Addresses and txids found in text: every field of every line; a txid is 64 hex digits, an
 * address anything else the service may know (it answers an error for what it does not). */
CT.screenItems = function (text) {
  const items = [];
  const seen = new Set();
  for (const line of text.split(/\r?\n/)) {
    for (let f of line.split(/[,;\t ]+/)) {
      f = f.trim().replace(/^"+|"+$/g, "");
      if (!f || f.length < 20 || f.length > 100 || !/^[0-9A-Za-z]+$/.test(f)) continue;
      if (seen.has(f)) continue;
      seen.add(f);
      items.push({ kind: /^[0-9a-fA-F]{64}$/.test(f) ? "tx" : "address", value: f });
    }
  }
  return items;
};

CT.pages.screen = function (view) {
  const area = CT.h("textarea", { id: "screen-input", rows: 8, spellcheck: "false",
    placeholder: "addresses and txids, one per line, or a CSV" });
  const file = CT.h("input", { id: "screen-file", type: "file", accept: ".csv,.txt,text/csv,text/plain" });
  const hops = CT.h("input", { id: "screen-hops", type: "number", min: 1, max: 20, value: 4 });
  const status = CT.h("p", { id: "screen-status", class: "muted" });
  const out = CT.h("div", { id: "screen-out" });
  let last = null;
  file.addEventListener("change", () => {
    const f = file.files[0];
    if (!f) return;
    if (f.size > 5 << 20) { status.textContent = "That file is over 5 MiB."; return; }
    const rd = new FileReader();
    rd.onload = () => { area.value = String(rd.result); status.textContent = f.name + " read."; };
    rd.readAsText(f);
  });
  const run = CT.h("button", { id: "screen-run", type: "button" }, "Screen");
  const dl = CT.h("button", { id: "screen-download", type: "button", disabled: true },
    "Download CSV");
  run.addEventListener("click", async () => {
    const items = CT.screenItems(area.value);
    CT.clear(out);
    if (!items.length) { status.textContent = "No addresses or txids found."; return; }
    if (items.length > 1000) { status.textContent = "At most 1000 items at once."; return; }
    status.textContent = "Screening " + items.length + " items…";
    run.disabled = true;
    try {
      const doc = await CT.api("screen/batch", { body: {
        addresses: items.filter((i) => i.kind === "address").map((i) => i.value),
        txs: items.filter((i) => i.kind === "tx").map((i) => i.value),
        hops: Math.max(1, Math.min(20, Number(hops.value) || 4)),
      } });
      last = doc.results;
      out.appendChild(CT.screenTable(last));
      dl.disabled = false;
      status.textContent = last.length + " screened.";
    } catch (e) {
      status.textContent = "Screening failed: " + e.message;
    } finally {
      run.disabled = false;
    }
  });
  dl.addEventListener("click", () => {
    if (last) CT.download("screening.csv", "text/csv", CT.screenCsv(last));
  });
  view.appendChild(CT.h("section", { class: "card" },
    CT.h("h1", {}, "Screening"),
    CT.h("p", {}, "Risk of deposits and withdrawals: labels on the address or its entity; " +
      "where its funds came from, over the whole history (the exposure index, no hop limit); " +
      "where they went, within N hops forward. N also bounds the trace that explains a reason."),
    area, CT.h("div", { class: "row" }, CT.h("label", {}, "CSV file ", file),
      CT.h("label", {}, "hops ", hops), run, dl), status));
  view.appendChild(out);
};

function levelOf(r) {
  return r.result && r.result.risk ? r.result.risk.level : "error";
}

CT.screenTable = function (results) {
  const rows = results.map((r) => {
    const res = r.result;
    const risk = res && res.risk;
    return [
      r.kind,
      r.kind === "tx" ? CT.link(r.query, "tx", r.query) : CT.link(r.query, "address", r.query),
      CT.h("span", { class: "risk risk-" + levelOf(r) }, levelOf(r)),
      risk ? String(risk.score) : "",
      r.error ? CT.h("span", { class: "error-text" }, r.error.message)
        : CT.h("ul", { class: "reasons" }, (risk.reasons || []).map((x) => CT.h("li", {}, x))),
    ];
  });
  return CT.table(["kind", "item", "risk", "score", "reasons"], rows, { id: "screen-table" });
};

CT.screenCsv = function (results) {
  const lines = ["kind,item,risk,score,reasons"];
  for (const r of results) {
    const risk = r.result && r.result.risk;
    lines.push([r.kind, r.query, levelOf(r), risk ? risk.score : "",
      risk ? (risk.reasons || []).join(" | ") : r.error ? r.error.message : ""]
      .map(CT.csvField).join(","));
  }
  return lines.join("\r\n") + "\r\n";
};
