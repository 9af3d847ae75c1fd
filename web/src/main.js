/* cointrail web UI: the routes and the start. */
"use strict";

CT.route("/signin", CT.pages.signin);
CT.route("/", CT.pages.home);
CT.route("/search", CT.pages.search);
CT.route("/address/:a", CT.pages.address);
CT.route("/tx/:t", CT.pages.tx);
CT.route("/entity/:e", CT.pages.entity);
CT.route("/labels/:a", CT.pages.labels);
CT.route("/actor/:n", CT.pages.actor);
CT.route("/screen", CT.pages.screen);
CT.route("/graph", CT.pages.graph);
CT.route("/cases", CT.pages.cases);
CT.route("/case/:id", CT.pages.case);

document.getElementById("searchform").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const q = document.getElementById("q").value.trim();
  if (q) CT.go("#/search?q=" + encodeURIComponent(q));
});
document.getElementById("signout").addEventListener("click", () => {
  CT.session.clear();
  CT.showWho();
  CT.go("#/signin");
});
window.addEventListener("hashchange", () => CT.render());
CT.showWho();
CT.render();
