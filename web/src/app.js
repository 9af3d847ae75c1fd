/* cointrail web UI: the shared core (docs/webui.md). Everything on the page is built with
 * DOM calls and textContent: text from the store, labels or the user is never parsed as HTML
 * (labels come from third parties). The API key lives in sessionStorage and is sent as the
 * X-API-Key header the API reads; no cookie is ever set, so no request carries authority the
 * page did not add itself. */
"use strict";

const CT = {};

/* ---- elements ---- */

/* h("div", {class: "x", href: "#/..."}, child, ...): children are nodes or text (strings and
 * numbers become text nodes). Attributes are set one by one; an href must be an in-page route
 * ("#/...") or a blob: URL made by the page, never text from data. */
CT.h = function (tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "href" && !(String(v).startsWith("#/") || String(v).startsWith("blob:")))
      throw new Error("refusing a link that is not a route: " + v);
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
};

CT.clear = function (el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
};

/* A route link: #/KIND/ID with the id percent-encoded. */
CT.link = function (text, ...parts) {
  return CT.h("a", { href: "#/" + parts.map(encodeURIComponent).join("/") }, text);
};

/* A link to the graph from SPEC (a case's graph with caseId). Not CT.link: that would encode
 * the "?" of the route's query, and the link would lead to "no such page". */
CT.graphLink = function (text, spec, caseId) {
  const q = [spec ? "from=" + encodeURIComponent(spec) : "",
    caseId ? "case=" + encodeURIComponent(caseId) : ""].filter(Boolean).join("&");
  return CT.h("a", { href: "#/graph?" + q }, text);
};

/* ---- numbers ---- */

/* Satoshis as BTC with all eight decimals, from integer arithmetic (no rounding). */
CT.btc = function (sats) {
  if (sats === null || sats === undefined) return "";
  const neg = sats < 0;
  let s = BigInt(Math.abs(sats)).toString().padStart(9, "0");
  return (neg ? "-" : "") + s.slice(0, -8) + "." + s.slice(-8) + " BTC";
};
/* An amount in an asset's base unit (a decimal string or number) in whole units: BTC from
 * satoshis, ETH from wei (18 decimals, trailing zeros cut); others as given. */
CT.units = function (amount, asset) {
  const dec = asset === "BTC" ? 8 : asset === "ETH" ? 18 : 0;
  if (!dec || !/^[0-9]+$/.test(String(amount))) return amount + " " + (asset || "");
  const s = String(amount).padStart(dec + 1, "0");
  let frac = s.slice(-dec);
  if (asset !== "BTC") frac = frac.replace(/0+$/, "") || "0";
  return s.slice(0, -dec) + "." + frac + " " + asset;
};
/* An exact amount in base units (a decimal string) shown in the asset's decimals (null or
 * unknown: as base units), trailing zeros of the fraction cut; the symbol after it. */
CT.dec = function (amount, decimals, symbol) {
  const a = String(amount);
  const sym = symbol ? " " + symbol : "";
  if (!/^[0-9]+$/.test(a) || !Number.isInteger(decimals) || decimals <= 0) return a + sym;
  const s = a.padStart(decimals + 1, "0");
  const frac = s.slice(-decimals).replace(/0+$/, "");
  return s.slice(0, -decimals) + (frac ? "." + frac : "") + sym;
};
CT.amount = function (sats) {
  return CT.h("span", { class: "amount", title: sats + " sat", dataset: { sats: String(sats) } },
    CT.btc(sats));
};
CT.short = function (s, n) {
  n = n || 10;
  s = String(s);
  return s.length > 2 * n + 1 ? s.slice(0, n) + "…" + s.slice(-n) : s;
};

/* ---- the session ---- */

CT.session = {
  key() { return sessionStorage.getItem("ct_key"); },
  set(key, who) {
    sessionStorage.setItem("ct_key", key);
    sessionStorage.setItem("ct_who", JSON.stringify(who));
  },
  who() {
    try { return JSON.parse(sessionStorage.getItem("ct_who") || "null"); } catch (e) { return null; }
  },
  clear() { sessionStorage.removeItem("ct_key"); sessionStorage.removeItem("ct_who"); },
  can(scope) {
    const w = CT.session.who();
    return !!w && (w.scopes.includes(scope) || w.scopes.includes("admin"));
  },
};

/* ---- the API ---- */

CT.ApiError = class extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field;
  }
};

/* fetch /v1/PATH with the key; JSON in and out. A 401 signs out. */
CT.api = async function (path, opts) {
  opts = opts || {};
  const headers = { "X-API-Key": CT.session.key() || "" };
  let body;
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  const res = await fetch("/v1/" + path, {
    method: opts.method || (body ? "POST" : "GET"), headers, body,
    credentials: "omit", cache: "no-store",
  });
  let doc = null;
  const text = await res.text();
  try { doc = text ? JSON.parse(text) : null; } catch (e) { doc = null; }
  if (!res.ok) {
    const err = doc && doc.error ? doc.error : { message: res.status + " " + res.statusText };
    if (res.status === 401 && !opts.noSignout) {
      CT.session.clear();
      CT.go("#/signin");
    }
    throw new CT.ApiError(res.status, err.message, err.field);
  }
  return doc;
};

/* ---- the router ---- */

CT.routes = [];
/* route(pattern, fn): pattern is a list of path parts, ":name" matching one part. */
CT.route = function (pattern, fn) { CT.routes.push({ parts: pattern.split("/"), fn }); };

CT.go = function (hash) {
  if (location.hash === hash) CT.render();
  else location.hash = hash;
};

/* The query of a route: #/search?q=... */
CT.query = function () {
  const h = location.hash || "#/";
  const i = h.indexOf("?");
  return new URLSearchParams(i < 0 ? "" : h.slice(i + 1));
};

CT.render = async function () {
  const view = document.getElementById("view");
  const h = (location.hash || "#/").slice(1);
  const path = h.split("?")[0];
  let parts;
  try {
    parts = path.split("/").map(decodeURIComponent);
  } catch (e) {
    parts = ["", "\u0000"];
  }
  if (!CT.session.key() && parts[1] !== "signin") return CT.go("#/signin");
  for (const r of CT.routes) {
    if (r.parts.length !== parts.length) continue;
    const args = [];
    let ok = true;
    for (let i = 0; i < parts.length; i++) {
      if (r.parts[i].startsWith(":")) args.push(parts[i]);
      else if (r.parts[i] !== parts[i]) { ok = false; break; }
    }
    if (!ok) continue;
    CT.clear(view);
    view.className = "";
    try {
      await r.fn(view, ...args);
    } catch (e) {
      CT.showError(view, e);
    }
    return;
  }
  CT.clear(view);
  CT.notFound(view, "no such page: " + path);
};

/* The not-found view: an unknown route or an id the store does not hold. */
CT.notFound = function (view, what) {
  CT.clear(view);
  view.appendChild(CT.h("section", { class: "notfound", id: "notfound" },
    CT.h("h1", {}, "404: not found"),
    CT.h("p", {}, what),
    CT.h("p", {}, CT.h("a", { href: "#/" }, "Back to search"))));
};

CT.showError = function (view, e) {
  /* an id the store does not hold, or that is not an id at all: not found */
  if (e instanceof CT.ApiError && (e.status === 404 || (e.status === 400 && e.field)))
    return CT.notFound(view, e.message);
  if (e instanceof CT.ApiError && e.status === 401) return;
  CT.clear(view);
  view.appendChild(CT.h("section", { class: "error", id: "error" },
    CT.h("h1", {}, e instanceof CT.ApiError ? "Error " + e.status : "Error"),
    CT.h("p", {}, e.message)));
};

/* A banner line at the top (not an alert dialog). */
CT.banner = function (text, kind) {
  const b = document.getElementById("banner");
  if (!text) { b.hidden = true; return; }
  CT.clear(b).appendChild(document.createTextNode(text));
  b.className = kind || "info";
  b.hidden = false;
};

/* A table from rows of cells (nodes or text). */
CT.table = function (head, rows, attrs) {
  return CT.h("table", attrs || {},
    CT.h("thead", {}, CT.h("tr", {}, head.map((c) => CT.h("th", {}, c)))),
    CT.h("tbody", {}, rows.map((r) => CT.h("tr", {}, r.map((c) => CT.h("td", {}, c))))));
};

/* A label's fields as a definition list: all text. The url is shown, never made a link: a
 * label's url is third-party text and may be a javascript: URL. */
CT.labelBlock = function (l) {
  const rows = [];
  for (const k of ["category", "actor", "name", "source", "url", "programs", "confidence",
    "first_seen", "last_seen", "updated", "via"]) {
    if (l[k] === undefined || l[k] === "" || l[k] === null) continue;
    rows.push(CT.h("dt", {}, k), CT.h("dd", { class: "label-" + k },
      Array.isArray(l[k]) ? l[k].join(", ") : String(l[k])));
  }
  return CT.h("dl", { class: "label" }, rows);
};

/* What a label shows in a line: actor, else name, else category. */
CT.labelName = function (l) {
  return l.actor || l.name || l.category || "";
};

/* A file download of text made in the page (a blob: URL, revoked after the click). */
CT.download = function (name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = CT.h("a", { href: url, download: name, hidden: true });
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 1000);
};

/* One CSV field: quoted, and a leading = + - @ (a formula to a spreadsheet) made text. */
CT.csvField = function (v) {
  let s = v === null || v === undefined ? "" : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
  return '"' + s.replace(/"/g, '""') + '"';
};
