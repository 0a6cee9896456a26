// The partition matrix of an asset: one cell per partition, coloured by status, painted
// on a canvas from one character per partition (m materialized, f failed, . missing,
// s stale), oldest first, row after row. Each colour is one path, so 3,650 partitions
// are a handful of fill calls. The server's event stream says when a run ended, and only
// then are the states read again (one request for the whole matrix).
(function () {
  "use strict";
  // cells shrink (13 px apart, down to 3) until every partition fits in MAX_HEIGHT
  var STEPS = [13, 9, 6, 4, 3], MAX_HEIGHT = 420;
  var NAMES = { m: "materialized", f: "failed", ".": "missing", s: "stale" };

  function start() {
    var canvas = document.getElementById("matrix");
    if (!canvas) return;
    var key = canvas.dataset.asset, hover = document.getElementById("matrix-hover");
    var data = null, colours = null, columns = 1, step = STEPS[0], cell = step - 2;
    var hint = hover ? hover.textContent : "";

    function colour(code) {
      if (colours === null) {
        var style = getComputedStyle(document.documentElement);
        colours = {};
        Object.keys(NAMES).forEach(function (c) {
          colours[c] = style.getPropertyValue("--a-" + NAMES[c]).trim() || "#ccc";
        });
      }
      return colours[code] || colours["."];
    }
    function draw() {
      if (!data) return;
      var began = performance.now();
      var width = Math.max(canvas.parentElement.clientWidth - 24, STEPS[0]);
      var states = data.states, n = states.length, rows = 1;
      for (var s = 0; s < STEPS.length; s++) {
        step = STEPS[s];
        columns = Math.max(1, Math.floor(width / step));
        rows = Math.ceil(n / columns);
        if (rows * step <= MAX_HEIGHT) break;
      }
      cell = step >= 6 ? step - 2 : step - 1;
      var height = Math.max(step, rows * step);
      var ctx = window.headwater.fit(canvas, width, height);
      ctx.clearRect(0, 0, width, height);
      var paths = {};
      for (var i = 0; i < n; i++) {
        var code = states.charAt(i);
        (paths[code] = paths[code] || []).push(i);
      }
      Object.keys(paths).forEach(function (code) {
        ctx.fillStyle = colour(code);
        ctx.beginPath();
        paths[code].forEach(function (k) {
          ctx.rect((k % columns) * step, Math.floor(k / columns) * step, cell, cell);
        });
        ctx.fill();
      });
      canvas.dataset.states = states;
      canvas.dataset.cells = String(n);
      canvas.dataset.step = String(step);
      canvas.dataset.columns = String(columns);
      canvas.dataset.drawMs = (performance.now() - began).toFixed(2);
      canvas.dataset.painted = String(performance.now());
    }
    function counts(found) {
      Object.keys(found || {}).forEach(function (name) {
        var cell = document.querySelector('[data-count="' + name + '"]');
        if (cell) cell.textContent = String(found[name]);
      });
    }
    var reading = false, again = false;
    function read() {
      if (reading) { again = true; return; }
      reading = true;
      fetch("/ui/data/assets/" + key + "/matrix", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (found) {
          reading = false;
          if (found) {
            // new states: the page's materializations and checks are read again too
            var changed = data !== null && data.states !== found.states;
            data = found;
            canvas.dataset.reads = String(Number(canvas.dataset.reads || 0) + 1);
            counts(found.counts);
            draw();
            if (changed) document.body.dispatchEvent(new Event("asset-data-changed"));
          }
          if (again) { again = false; read(); }
        })
        .catch(function () { reading = false; });
    }
    function cellAt(ev) {
      if (!data) return -1;
      var r = canvas.getBoundingClientRect(), x = ev.clientX - r.left, y = ev.clientY - r.top;
      var col = Math.floor(x / step), row = Math.floor(y / step);
      if (col >= columns || x - col * step >= cell || y - row * step >= cell) return -1;
      var i = row * columns + col;
      return i < data.states.length ? i : -1;
    }
    canvas.addEventListener("mousemove", function (ev) {
      var i = cellAt(ev);
      if (!hover) return;
      hover.textContent = i < 0 ? hint :
        (data.keys[i] || "(whole asset)") + ": " + NAMES[data.states.charAt(i)] +
        (data.runs[String(i)] ? " · run " + data.runs[String(i)] : "");
    });
    canvas.addEventListener("click", function (ev) {
      var i = cellAt(ev), run = i < 0 ? null : data.runs[String(i)];
      if (run) location.href = "/runs/" + encodeURIComponent(run);
    });
    // runs just queued from this page: their states are read again as they end
    document.body.addEventListener("asset-runs-queued", read);
    function listen() {
      if (!window.EventSource) { setInterval(read, 3000); return; }
      var source = new EventSource("/api/v1/events");
      source.addEventListener("run", function (ev) {
        var change;
        try { change = JSON.parse(ev.data); } catch (e) { return; }
        if (change.state === "success" || change.state === "failed") read();
      });
      source.addEventListener("open", function () { canvas.dataset.live = "sse"; });
      source.addEventListener("error", function () {
        if (source.readyState === EventSource.CLOSED && canvas.dataset.live !== "poll") {
          canvas.dataset.live = "poll";
          setInterval(read, 3000);
        }
      });
      setInterval(read, 30000);  // a safety net for an event lost in transit
    }
    window.addEventListener("resize", function () { requestAnimationFrame(draw); });
    read();
    listen();
  }
  document.addEventListener("DOMContentLoaded", start);
})();
