// The Gantt view of a run: one bar per task from its first start to its last end,
// on a canvas, sorted by start; only the rows on screen are drawn. Refreshed when the
// run's states change (the graph view's poll announces it), never per task.
(function () {
  "use strict";
  var ROW = 16, LABEL = 240, AXIS = 20;

  function start() {
    var canvas = document.getElementById("gantt");
    if (!canvas) return;
    var scroller = document.getElementById("gantt-scroller");
    var spacer = document.getElementById("gantt-spacer");
    var runId = canvas.dataset.run;
    var hw = window.headwater;
    var data = null, order = [], span = 1, pending = false, stale = true;

    function visible() { return !scroller.parentElement.classList.contains("hidden"); }
    function draw() {
      pending = false;
      if (!data || !visible()) return;
      var width = scroller.clientWidth, height = scroller.clientHeight;
      var ctx = hw.fit(canvas, width, height);
      var top = scroller.scrollTop;
      ctx.clearRect(0, 0, width, height);
      var plot = width - LABEL - 16, scale = plot / span;
      var first = Math.max(0, Math.floor(top / ROW)), last = Math.min(order.length, first + Math.ceil(height / ROW) + 1);
      ctx.font = "12px ui-monospace, monospace";
      ctx.textBaseline = "middle";
      for (var r = first; r < last; r++) {
        var i = order[r], y = AXIS + r * ROW - top;
        ctx.fillStyle = "#1d2430";
        var label = data.ids[i];
        if (label.length > 30) label = label.slice(0, 29) + "…";
        ctx.fillText(label, 6, y + ROW / 2);
        if (data.start[i] === null) continue;
        ctx.fillStyle = hw.colour(data.states.charAt(i) || "n");
        var w = Math.max(2, ((data.end[i] === null ? data.start[i] : data.end[i]) - data.start[i]) * scale);
        ctx.fillRect(LABEL + data.start[i] * scale, y + 2, w, ROW - 4);
      }
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, width, AXIS);
      ctx.fillStyle = "#6b7380";
      for (var t = 0; t <= 4; t++) {
        var at = span * t / 4;
        ctx.fillText("+" + (at < 120 ? at.toFixed(1) + "s" : (at / 60).toFixed(1) + "m"), LABEL + at * scale - (t === 4 ? 40 : 0), AXIS / 2);
      }
      canvas.dataset.painted = String(performance.now());
    }
    function schedule() { if (!pending) { pending = true; requestAnimationFrame(draw); } }
    function load() {
      stale = false;
      fetch("/ui/data/runs/" + encodeURIComponent(runId) + "/gantt", { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (d) {
          data = d;
          order = d.ids.map(function (_, i) { return i; });
          order.sort(function (a, b) {
            var sa = d.start[a], sb = d.start[b];
            if (sa === null) return sb === null ? a - b : 1;
            if (sb === null) return -1;
            return sa - sb || a - b;
          });
          span = 0.001;
          d.end.forEach(function (e, i) { span = Math.max(span, e === null ? (d.start[i] || 0) : e); });
          spacer.style.height = (AXIS + d.ids.length * ROW) + "px";
          draw();
        });
    }
    scroller.addEventListener("scroll", schedule);
    window.addEventListener("resize", schedule);
    document.addEventListener("headwater:view", function (ev) {
      if (ev.detail === "gantt") { if (stale || !data) load(); else schedule(); }
    });
    document.addEventListener("headwater:states", function () {
      stale = true;
      if (visible()) load();
    });
  }
  document.addEventListener("DOMContentLoaded", start);
})();
