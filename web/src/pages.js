/* cointrail web UI: sign-in, search, and the address, tx, entity, label and actor pages. */
"use strict";

CT.pages = {};

/* ---- sign-in ---- */

CT.pages.signin = function (view) {
  const input = CT.h("input", { id: "apikey", type: "password", autocomplete: "off",
    placeholder: "API key", "aria-label": "API key" });
  const msg = CT.h("p", { id: "signin-error", class: "error-text" });
  const form = CT.h("form", { id: "signin", class: "card" },
    CT.h("h1", {}, "Sign in"),
    CT.h("p", {}, "Paste an API key made with ",
      CT.h("code", {}, "cointrail serve-key --role read|analyst|admin"),
      ". It is kept in this tab only (sessionStorage) and sent with each request."),
    input, CT.h("button", { type: "submit", id: "signin-button" }, "Sign in"), msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const key = input.value.trim();
    if (!key) return;
    sessionStorage.setItem("ct_key", key);
    try {
      const who = await CT.api("whoami", { noSignout: true });
      CT.session.set(key, who);
      CT.showWho();
      CT.go("#/");
    } catch (e) {
      CT.session.clear();
      msg.textContent = e.status === 401 ? "This key is not valid on this service." : e.message;
    }
  });
  view.appendChild(form);
  input.focus();
};

CT.showWho = function () {
  const w = CT.session.who();
  const el = document.getElementById("who");
  el.textContent = w ? (w.owner || "(anonymous)") + " · " + w.role : "";
  el.dataset.role = w ? w.role : "";
  document.getElementById("signout").hidden = !w;
  document.getElementById("nav-cases").hidden = !(w && w.features && w.features.cases);
  if (w && w.features && w.features.ui_libraries_missing)
    CT.banner("The graph library was not installed when this program was built: run `npm ci` " +
      "in web/ and build again.", "warn");
};

/* ---- home and search ---- */

CT.pages.home = function (view) {
  const w = CT.session.who() || {};
  view.appendChild(CT.h("section", { class: "card" },
    CT.h("h1", {}, "Search"),
    CT.h("p", {}, "Type an address, a txid, a 0x address or hash, an entity id (e123), " +
      "a label's text or an actor in the box above."),
    w.store ? CT.h("p", { class: "muted" }, "Store at height " + w.store.height + ", " +
      w.store.labels + " labels" + (w.store.clustered ? ", clustered" : ", not clustered") +
      ".") : null));
};

/* Where a search result leads. */
function resultLink(r) {
  switch (r.kind) {
    case "tx": return CT.link("tx " + CT.short(r.id), "tx", r.id);
    case "block": return CT.h("span", {}, "block " + r.height + " (" + CT.short(r.id) + ")");
    case "address": return CT.link(r.id, "address", r.id);
    case "entity": return CT.link("entity e" + r.id, "entity", String(r.id));
    case "actor": return CT.link(r.id, "actor", r.id);
    case "label": return CT.link(r.address, "labels", r.address);
    case "evm_tx": return CT.graphLink(r.id, r.id);
    case "evm_address": return CT.graphLink(r.id, r.id);
    default: return CT.h("span", {}, r.id);
  }
}

CT.pages.search = async function (view) {
  const q = CT.query().get("q") || "";
  document.getElementById("q").value = q;
  view.appendChild(CT.h("h1", {}, "Results for ", CT.h("q", { id: "search-query" }, q)));
  const doc = await CT.api("search?q=" + encodeURIComponent(q) + "&limit=100");
  const res = doc.results;
  if (!res.length) {
    view.appendChild(CT.h("p", { id: "no-results" }, "Nothing found."));
    return;
  }
  const rows = res.map((r) => [
    r.kind,
    resultLink(r),
    r.kind === "actor" ? r.labels + " labels: " + r.categories.join(", ")
      : r.kind === "label" ? [r.category, CT.labelName(r), r.source].filter(Boolean).join(" · ")
        : r.kind === "tx" ? "block " + r.height
          : r.kind === "address" && r.entity !== undefined ? "entity e" + r.entity
            : r.kind === "entity" ? r.size + " addresses"
              : r.kind === "evm_tx" ? (r.block !== undefined ? r.chain + " block " + r.block + ", " : "") +
                r.links.length + " cross-chain link(s)"
                : r.kind === "evm_address" ? r.chain + " address" : "",
    r.kind === "tx" || r.kind === "address" || r.kind === "entity" || r.kind === "evm_tx" ||
    r.kind === "evm_address"
      ? CT.graphLink("graph", r.kind === "entity" ? "entity:" + r.id : r.id) : "",
  ]);
  view.appendChild(CT.table(["kind", "result", "detail", ""], rows, { id: "results" }));
  if (doc.truncated) view.appendChild(CT.h("p", { class: "muted" }, "More labels match: refine."));
};

/* ---- pages ---- */

function labelsList(labels) {
  if (!labels || !labels.length) return CT.h("p", { class: "muted" }, "No labels.");
  return CT.h("div", { class: "labels" }, labels.map((l) => CT.h("div", { class: "labelcard" },
    CT.h("strong", { class: "label-title" }, CT.labelName(l)),
    l.address ? CT.h("div", {}, "on ", CT.link(l.address, "address", l.address)) : null,
    CT.labelBlock(l))));
}

CT.pages.address = async function (view, addr) {
  const offset = Number(CT.query().get("offset") || 0);
  const d = await CT.api("address/" + encodeURIComponent(addr) + "?limit=50&offset=" + offset);
  view.appendChild(CT.h("h1", {}, "Address ", CT.h("span", { class: "mono", id: "page-id" },
    d.address)));
  view.appendChild(CT.h("p", {},
    CT.graphLink("Open in graph", d.address), " · ",
    CT.link("Labels", "labels", d.address),
    d.entity !== undefined && d.entity !== null
      ? [" · ", CT.link("Entity e" + (d.entity.id !== undefined ? d.entity.id : d.entity),
        "entity", String(d.entity.id !== undefined ? d.entity.id : d.entity))] : null));
  view.appendChild(CT.h("dl", { class: "facts" },
    CT.h("dt", {}, "type"), CT.h("dd", {}, d.type),
    CT.h("dt", {}, "received"), CT.h("dd", { id: "addr-received" }, CT.amount(d.received)),
    CT.h("dt", {}, "sent"), CT.h("dd", {}, CT.amount(d.sent)),
    CT.h("dt", {}, "balance"), CT.h("dd", { id: "addr-balance" }, CT.amount(d.balance)),
    CT.h("dt", {}, "txs"), CT.h("dd", {}, d.tx_count)));
  view.appendChild(CT.h("h2", {}, "Labels"));
  view.appendChild(labelsList(d.labels));
  if (d.entity && d.entity.labels && d.entity.labels.length) {
    view.appendChild(CT.h("h2", {}, "Labels of its entity"));
    view.appendChild(labelsList(d.entity.labels));
  }
  view.appendChild(CT.h("h2", {}, "Outputs (newest first)"));
  view.appendChild(CT.table(["tx", "n", "height", "value", "spent by"],
    (d.outputs || []).map((o) => [CT.link(CT.short(o.txid), "tx", o.txid), o.n, o.height,
      CT.amount(o.value), o.spent_by ? CT.link(CT.short(o.spent_by), "tx", o.spent_by) : "unspent"]),
    { id: "addr-outputs" }));
  if (d.output_count > offset + 50)
    view.appendChild(CT.link("next page", "address", d.address + "?offset=" + (offset + 50)));
};

CT.pages.tx = async function (view, txid) {
  const d = await CT.api("tx/" + encodeURIComponent(txid));
  view.appendChild(CT.h("h1", {}, "Transaction ", CT.h("span", { class: "mono", id: "page-id" },
    d.txid)));
  view.appendChild(CT.h("p", {}, CT.graphLink("Open in graph", d.txid)));
  view.appendChild(CT.h("dl", { class: "facts" },
    CT.h("dt", {}, "block"), CT.h("dd", {}, d.block_height),
    CT.h("dt", {}, "fee"), CT.h("dd", { id: "tx-fee" }, d.fee !== undefined && d.fee !== null
      ? CT.amount(d.fee) : "unknown"),
    CT.h("dt", {}, "size"), CT.h("dd", {}, d.size + " bytes, " + d.vsize + " vbytes")));
  const who = (a, labels) => [a ? CT.link(a, "address", a) : "(no address)",
    labels && labels.length ? CT.h("span", { class: "tag" }, CT.labelName(labels[0])) : null];
  view.appendChild(CT.h("h2", {}, "Inputs"));
  view.appendChild(CT.table(["previous output", "address", "value"], (d.inputs || []).map((i) => [
    i.coinbase ? "coinbase" : i.prev_txid ? CT.link(CT.short(i.prev_txid) + ":" + i.vout, "tx",
      i.prev_txid) : "unresolved",
    who(i.address, i.labels), i.value !== undefined ? CT.amount(i.value) : ""]), { id: "tx-inputs" }));
  view.appendChild(CT.h("h2", {}, "Outputs"));
  view.appendChild(CT.table(["n", "address", "value", "spent by"], (d.outputs || []).map((o) => [
    o.n, who(o.address, o.labels), CT.amount(o.value),
    o.spent_by ? CT.link(CT.short(o.spent_by), "tx", o.spent_by) : "unspent"]),
    { id: "tx-outputs" }));
};

CT.pages.entity = async function (view, id) {
  if (!/^e?[0-9]{1,10}$/.test(id)) return CT.notFound(view, "no entity " + id);
  id = id.replace(/^e/, "");
  const d = await CT.api("entity/" + encodeURIComponent(id) + "?limit=100");
  view.appendChild(CT.h("h1", {}, "Entity ", CT.h("span", { id: "page-id" }, "e" + d.entity)));
  const named = (d.labels || []).find((l) => l.actor) || (d.labels || [])[0];
  if (named) view.appendChild(CT.h("p", { class: "entity-name" }, CT.labelName(named)));
  view.appendChild(CT.h("p", {}, CT.graphLink("Open in graph", "entity:" + d.entity)));
  view.appendChild(CT.h("dl", { class: "facts" },
    CT.h("dt", {}, "addresses"), CT.h("dd", {}, d.size),
    CT.h("dt", {}, "received"), CT.h("dd", {}, CT.amount(d.received)),
    CT.h("dt", {}, "sent"), CT.h("dd", {}, CT.amount(d.sent)),
    CT.h("dt", {}, "balance"), CT.h("dd", {}, CT.amount(d.balance)),
    CT.h("dt", {}, "txs"), CT.h("dd", {}, d.tx_count)));
  view.appendChild(CT.h("h2", {}, "Labels"));
  view.appendChild(labelsList(d.labels));
  view.appendChild(CT.h("h2", {}, "Addresses"));
  view.appendChild(CT.h("ul", { class: "addrs" }, (d.addresses || []).map((a) =>
    CT.h("li", {}, CT.link(a.address, "address", a.address)))));
};

CT.pages.labels = async function (view, addr) {
  const d = await CT.api("labels/" + encodeURIComponent(addr));
  view.appendChild(CT.h("h1", {}, "Labels of ", CT.h("span", { class: "mono", id: "page-id" },
    d.address)));
  if (!d.labels.length) return CT.notFound(view, "no labels on " + addr);
  view.appendChild(labelsList(d.labels));
};

CT.pages.actor = async function (view, actor) {
  const d = await CT.api("labels?q=" + encodeURIComponent(actor) + "&limit=1000");
  const mine = d.labels.filter((l) => l.actor === actor);
  view.appendChild(CT.h("h1", {}, "Actor ", CT.h("span", { id: "page-id" }, actor)));
  if (!mine.length) return CT.notFound(view, "no labels with the actor " + actor);
  const cats = {};
  for (const l of mine) cats[l.category] = (cats[l.category] || 0) + 1;
  view.appendChild(CT.h("p", {}, mine.length + " labels: " +
    Object.entries(cats).map(([c, n]) => c + " " + n).join(", ")));
  view.appendChild(CT.table(["chain", "address", "category", "name", "source"],
    mine.map((l) => [l.chain, l.chain === "btc" ? CT.link(l.address, "address", l.address)
      : l.address, l.category, l.name || "", l.source || ""]), { id: "actor-labels" }));
};
