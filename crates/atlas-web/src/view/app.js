// TenantAtlas console: times in the viewer's zone, the live channel, and
// small conveniences. Our own code only; the pages work without it.
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // "2026-12-03 09:37:30 +01:00": the viewer's zone, with its offset.
  function local(d) {
    var off = -d.getTimezoneOffset();
    var sign = off >= 0 ? "+" : "-";
    off = Math.abs(off);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + " " +
      sign + pad(Math.floor(off / 60)) + ":" + pad(off % 60);
  }

  function utc(d) {
    return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  }

  function relative(d) {
    var s = Math.round((Date.now() - d.getTime()) / 1000);
    if (s < 5) return "just now";
    if (s < 60) return s + " s ago";
    var m = Math.round(s / 60);
    if (m < 60) return m + " min ago";
    var h = Math.round(m / 60);
    if (h < 48) return h + " h ago";
    return Math.round(h / 24) + " days ago";
  }

  // One format everywhere: relative, then the exact time in the viewer's
  // zone with its offset; UTC on hover.
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      el.title = utc(d);
      el.textContent = "";
      var rel = document.createElement("span");
      rel.className = "rel";
      rel.textContent = relative(d);
      var exact = document.createElement("span");
      exact.className = "exact";
      exact.textContent = local(d);
      el.appendChild(rel);
      el.appendChild(document.createTextNode(" "));
      el.appendChild(exact);
    });
    root.querySelectorAll("option[data-datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("data-datetime"));
      if (!isNaN(d.getTime())) el.textContent = local(d) + (el.getAttribute("data-suffix") || "");
    });
  }

  function tickTimes() {
    document.querySelectorAll("time[datetime] .rel").forEach(function (el) {
      var d = new Date(el.parentNode.getAttribute("datetime"));
      if (!isNaN(d.getTime())) el.textContent = relative(d);
    });
  }

  function rowLinks(root) {
    root.querySelectorAll("tr[data-href]").forEach(function (tr) {
      tr.addEventListener("click", function (ev) {
        if (ev.target.closest("a, button, input, select, label, summary")) return;
        window.location.href = tr.getAttribute("data-href");
      });
    });
  }

  function fetchHtml(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } }).then(function (r) {
      if (!r.ok) throw new Error("refresh failed: " + r.status);
      return r.text().then(function (html) { return { html: html, active: r.headers.get("X-Atlas-Active") }; });
    });
  }

  // The parts of a page that follow the live channel. Each has a refresh
  // (fetch its fragment and swap it in) and says which runs concern it.
  var parts = [];

  function debounced(fn, ms) {
    var timer = null, busy = false, again = false;
    return function () {
      if (timer) return;
      timer = setTimeout(function run() {
        timer = null;
        if (busy) { again = true; return; }
        busy = true;
        Promise.resolve(fn()).catch(function () {}).then(function () {
          busy = false;
          if (again) { again = false; timer = setTimeout(run, ms); }
        });
      }, ms);
    };
  }

  function listPart(body) {
    var tenant = body.getAttribute("data-live-tenant");
    var tabs = document.querySelector("[data-live-tabs]");
    var refresh = debounced(function () {
      var jobs = [fetchHtml(body.getAttribute("data-live-src")).then(function (r) {
        body.innerHTML = r.html;
        body.setAttribute("data-active", r.active === "true" ? "true" : "false");
        localTimes(body);
        rowLinks(body);
      })];
      if (tabs && !tenant) {
        jobs.push(fetchHtml(tabs.getAttribute("data-live-tabs")).then(function (r) { tabs.innerHTML = r.html; }));
      }
      return Promise.all(jobs);
    }, 400);
    return {
      concerns: function (run) { return !tenant || (run.tenants || []).indexOf(tenant) >= 0; },
      update: function () { refresh(); },
      refresh: refresh,
      active: function () { return body.getAttribute("data-active") === "true"; }
    };
  }

  function runPart(el) {
    var id = el.getAttribute("data-live-run");
    var refresh = debounced(function () {
      return fetchHtml("/admin/operations/" + id + "/live").then(function (r) {
        var holder = document.createElement("div");
        holder.innerHTML = r.html;
        var fresh = holder.firstElementChild;
        if (!fresh) return;
        el.replaceWith(fresh);
        el = fresh;
        localTimes(el);
      });
    }, 200);
    return {
      concerns: function (run) { return run.id === id; },
      update: function (run) {
        var same = el.getAttribute("data-status") === run.status &&
          el.getAttribute("data-outcome") === run.outcome &&
          el.getAttribute("data-attempt") === String(run.attempt);
        var progress = el.querySelector("[data-progress] progress");
        if (!same || (run.status === "running" && !progress)) { refresh(); return; }
        var c = run.summary_counts || {};
        Object.keys(c).forEach(function (k) {
          var b = el.querySelector("[data-count='" + k + "'] b");
          if (b) b.textContent = c[k];
        });
        if (progress && c.total > 0) {
          var done = Math.min(c.total, (c.processed || 0) + (c.blocked || 0));
          progress.max = c.total;
          progress.value = done;
          var t = el.querySelector("[data-progress-text]");
          if (t) t.textContent = done + " of " + c.total;
        }
      },
      refresh: refresh,
      active: function () { return el.getAttribute("data-active") === "true"; }
    };
  }

  // The channel: one EventSource per page while the tab is visible. When it
  // drops, the parts poll their fragments until it is back.
  var live = { es: null, down: false, poll: null, downTimer: null, retry: null };

  function workspace() {
    var m = document.querySelector("meta[name='atlas-workspace']");
    return m ? m.getAttribute("content") : "";
  }

  function setDown(down) {
    live.down = down;
    document.documentElement.setAttribute("data-live", down ? "down" : "up");
    clearInterval(live.poll);
    live.poll = null;
    if (down && !document.hidden) {
      live.poll = setInterval(function () {
        parts.forEach(function (p) { if (p.active()) p.refresh(); });
      }, 4000);
    }
  }

  function connect() {
    if (!parts.length || live.es || document.hidden || !window.EventSource) {
      if (!window.EventSource) setDown(true);
      return;
    }
    var es = new EventSource("/admin/live?workspace=" + encodeURIComponent(workspace()));
    live.es = es;
    es.addEventListener("hello", function () {
      clearTimeout(live.downTimer);
      var wasDown = live.down;
      setDown(false);
      if (wasDown) parts.forEach(function (p) { p.refresh(); });
    });
    es.addEventListener("runs", function (ev) {
      var data;
      try { data = JSON.parse(ev.data); } catch (e) { return; }
      parts.forEach(function (p) {
        if (data.resync) { p.refresh(); return; }
        (data.runs || []).forEach(function (run) { if (p.concerns(run)) p.update(run); });
      });
    });
    es.onerror = function () {
      if (es.readyState === 2) {
        // Closed for good (a refusal, or the server went away): poll, and try again later.
        es.close();
        live.es = null;
        setDown(true);
        clearTimeout(live.retry);
        live.retry = setTimeout(connect, 10000);
      } else {
        // Reconnecting by itself: poll only if that takes a while.
        clearTimeout(live.downTimer);
        live.downTimer = setTimeout(function () { if (live.es === es) setDown(true); }, 5000);
      }
    };
  }

  function disconnect() {
    if (live.es) { live.es.close(); live.es = null; }
    clearInterval(live.poll);
    live.poll = null;
    clearTimeout(live.retry);
    clearTimeout(live.downTimer);
  }

  function startLive() {
    document.querySelectorAll("tbody[data-live-src]").forEach(function (b) { parts.push(listPart(b)); });
    document.querySelectorAll("[data-live-run]").forEach(function (el) { parts.push(runPart(el)); });
    if (!parts.length) return;
    connect();
    // Hidden tabs stop; coming back catches up once.
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) {
        disconnect();
      } else {
        parts.forEach(function (p) { p.refresh(); });
        connect();
      }
    });
  }

  function autoSubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    rowLinks(document);
    autoSubmit();
    startLive();
    setInterval(function () { if (!document.hidden) tickTimes(); }, 15000);
  });
})();
