// TenantAtlas console: local times, live refresh while runs are active, and
// small conveniences. Our own code only; the pages work without it.
(function () {
  "use strict";

  function relative(date) {
    var s = Math.round((Date.now() - date.getTime()) / 1000);
    if (s < 5) return "just now";
    if (s < 60) return s + " s ago";
    var m = Math.round(s / 60);
    if (m < 60) return m + " min ago";
    var h = Math.round(m / 60);
    if (h < 48) return h + " h ago";
    return Math.round(h / 24) + " days ago";
  }

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      if (el.hasAttribute("data-relative")) {
        el.textContent = relative(d);
      } else {
        el.textContent = d.toLocaleString();
      }
    });
  }

  function rowLinks(root) {
    root.querySelectorAll("tr[data-href]").forEach(function (tr) {
      tr.addEventListener("click", function (ev) {
        if (ev.target.closest("a, button, input, select, label")) return;
        window.location.href = tr.getAttribute("data-href");
      });
    });
  }

  // The operations list: refresh the table body while it shows active runs.
  function liveTable() {
    var body = document.querySelector("tbody[data-live-src]");
    if (!body) return;
    var timer = null;
    function schedule() {
      clearTimeout(timer);
      if (body.getAttribute("data-active") === "true" && !document.hidden) {
        timer = setTimeout(refresh, 3000);
      }
    }
    function refresh() {
      fetch(body.getAttribute("data-live-src"), { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (!r.ok) throw new Error("refresh failed: " + r.status);
          body.setAttribute("data-active", r.headers.get("X-Atlas-Active") === "true" ? "true" : "false");
          return r.text();
        })
        .then(function (html) {
          body.innerHTML = html;
          localTimes(body);
          rowLinks(body);
          schedule();
        })
        .catch(function () { body.setAttribute("data-active", "false"); });
    }
    document.addEventListener("visibilitychange", schedule);
    schedule();
  }

  // The run viewer: reload while the run is active and the tab is visible.
  function liveRun() {
    var el = document.querySelector("[data-live-run='true']");
    if (!el) return;
    var timer = null;
    function schedule() {
      clearTimeout(timer);
      if (!document.hidden) timer = setTimeout(function () { window.location.reload(); }, 2000);
    }
    document.addEventListener("visibilitychange", schedule);
    schedule();
  }

  function autoSubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    rowLinks(document);
    liveTable();
    liveRun();
    autoSubmit();
  });
})();
