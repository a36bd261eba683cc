// Keeps an open board page live: when the community's log grows (server-sent events),
// fetch this page again and swap its <main>. Without JavaScript the page shows the state
// at load time.
(function () {
  "use strict";
  var body = document.body;
  var src = body.dataset.live;
  if (!src || !window.EventSource || !window.fetch) { return; }
  var since = parseInt(body.dataset.since || "0", 10);
  var busy = false, again = false;
  var status = document.querySelector(".live-status");

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, {headers: {"Accept": "text/html"}, cache: "no-store"})
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector("main");
        var old = document.querySelector("main");
        if (fresh && old) {
          old.replaceWith(document.importNode(fresh, true));
          body.dataset.since = doc.body.dataset.since || String(since);
          body.dataset.updated = String(since);
        }
      })
      .catch(function () { /* the next change tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; refresh(); }
      });
  }

  var es = new EventSource(src + "?since=" + since);
  es.addEventListener("open", function () { if (status) { status.textContent = "Live."; } });
  es.addEventListener("error", function () { if (status) { status.textContent = "Reconnecting…"; } });
  es.addEventListener("change", function (e) {
    var top = parseInt(e.data, 10);
    if (top > since) { since = top; refresh(); }
  });
}());
