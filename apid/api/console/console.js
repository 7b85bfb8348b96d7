// The console's live part: every two seconds the server renders it again
// (GET /console/live, HTML it escaped) and it replaces #live. The replay
// buttons post to /console/replay/{eventId}.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var status = document.getElementById("status");
  var notice = document.getElementById("notice");
  var busy = false;
  function say(text) { notice.textContent = text; notice.hidden = false; }
  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch("/console/live", { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (r.status === 401) { location.reload(); return null; }
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.text();
    }).then(function (html) {
      if (html === null) { return; }
      live.innerHTML = html;
      status.textContent = "live · updated " + new Date().toLocaleTimeString();
    }).catch(function (e) {
      status.textContent = "not updating: " + e.message;
    }).finally(function () { busy = false; });
  }
  setInterval(refresh, 2000);
  document.addEventListener("visibilitychange", refresh);
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button[data-replay]");
    if (!b) { return; }
    b.disabled = true;
    fetch("/console/replay/" + encodeURIComponent(b.getAttribute("data-replay")), {
      method: "POST", credentials: "same-origin", headers: { "X-Requested-With": "inflow-console" }
    }).then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); }).then(function (res) {
      // Said outside #live, which the next refresh replaces.
      say(res[0] ? "Replayed " + res[1].eventId + " to " + res[1].deliveries + " endpoint(s)" : "Replay failed: " + (res[1].message || "error"));
    }).catch(function (e) { say("Replay failed: " + e.message); }).finally(refresh);
  });
})();
