// The grid view: runs × tasks, one cell per task per run, painted on a canvas from one
// state string per run. Only the rows on screen are drawn, so 10,000 tasks × 50 runs
// costs what a screenful costs. A click on a cell opens the run.
(function () {
  "use strict";
  var ROW = 16, COL = 14, LABEL = 240, HEAD = 22;

  function start() {
    var canvas = document.getElementById("grid");
    if (!canvas) return;
    var scroller = document.getElementById("grid-scroller");
    var spacer = document.getElementById("grid-spacer");
    var older = document.getElementById("grid-older");
    var newest = document.getElementById("grid-newest");
    var pipeline = canvas.dataset.pipeline;
    var hw = window.headwater;
    var data = null, pending = false;

    function draw() {
      pending = false;
      if (!data || scroller.parentElement.classList.contains("hidden")) return;
      var width = scroller.clientWidth, height = scroller.clientHeight;
      var ctx = hw.fit(canvas, width, height);
      var top = scroller.scrollTop, left = scroller.scrollLeft;
      canvas.style.marginTop = "0px";
      ctx.clearRect(0, 0, width, height);
      var runs = data.runs, rows = data.rows, ids = data.ids;
      var first = Math.max(0, Math.floor(top / ROW)), count = Math.ceil(height / ROW) + 1;
      var last = Math.min(ids.length, first + count);
      // cells, grouped by colour per visible row
      for (var c = 0; c < runs.length; c++) {
        var x = LABEL + c * COL - left;
        if (x + COL < LABEL || x > width) continue;
        var row = rows[c];
        for (var t = first; t < last; t++) {
          ctx.fillStyle = hw.colour(row.charAt(t) || ".");
          ctx.fillRect(x + 1, HEAD + t * ROW - top + 1, COL - 2, ROW - 2);
        }
      }
      // header: each run's state, and the task labels on the left
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, width, HEAD);
      for (var r = 0; r < runs.length; r++) {
        var hx = LABEL + r * COL - left;
        if (hx + COL < LABEL || hx > width) continue;
        ctx.fillStyle = hw.colour(codeOf(runs[r].state));
        ctx.fillRect(hx + 1, 4, COL - 2, HEAD - 6);
      }
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, LABEL, height);
      ctx.fillStyle = "#1d2430";
      ctx.font = "12px ui-monospace, monospace";
      ctx.textBaseline = "middle";
      for (var k = first; k < last; k++) {
        var label = ids[k];
        if (label.length > 30) label = label.slice(0, 29) + "…";
        ctx.fillText(label, 6, HEAD + k * ROW - top + ROW / 2);
      }
      ctx.fillStyle = "#6b7380";
      ctx.fillText(runs.length + " runs · " + ids.length + " tasks", 6, HEAD / 2);
      canvas.dataset.painted = String(performance.now());
    }
    function codeOf(state) {
      for (var c in hw.NAMES) if (hw.NAMES[c] === state) return c;
      return "n";
    }
    function schedule() { if (!pending) { pending = true; requestAnimationFrame(draw); } }
    function cellAt(ev) {
      var r = canvas.getBoundingClientRect();
      var px = ev.clientX - r.left + scroller.scrollLeft, py = ev.clientY - r.top + scroller.scrollTop;
      var col = Math.floor((px - LABEL) / COL), row = Math.floor((py - HEAD) / ROW);
      if (!data || ev.clientX - r.left < LABEL || col < 0 || col >= data.runs.length) return null;
      return { run: data.runs[col], task: row >= 0 && row < data.ids.length ? row : -1 };
    }
    function load(before) {
      var url = "/ui/data/pipelines/" + encodeURIComponent(pipeline) + "/grid?limit=50" +
        (before ? "&before=" + encodeURIComponent(before) : "");
      fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (d) {
        data = d;
        spacer.style.height = (HEAD + d.ids.length * ROW) + "px";
        spacer.style.width = (LABEL + d.runs.length * COL) + "px";
        scroller.style.height = Math.min(480, Math.max(120, HEAD + d.ids.length * ROW + 24)) + "px";
        canvas.dataset.runs = String(d.runs.length);
        canvas.dataset.tasks = String(d.ids.length);
        older.hidden = !d.next_before;
        older.onclick = function () { load(d.next_before); };
        newest.hidden = !before;
        newest.onclick = function () { load(null); };
        draw();
      });
    }
    scroller.addEventListener("scroll", schedule);
    window.addEventListener("resize", schedule);
    document.addEventListener("headwater:view", function (ev) { if (ev.detail === "grid") schedule(); });
    canvas.addEventListener("mousemove", function (ev) {
      var hit = cellAt(ev);
      canvas.style.cursor = hit ? "pointer" : "default";
      canvas.title = !hit ? "" : hit.run.logical_date + " · " + hit.run.run_id +
        (hit.task >= 0 ? "\n" + data.ids[hit.task] + ": " + hw.NAMES[data.rows[data.runs.indexOf(hit.run)].charAt(hit.task) || "."] : "");
    });
    canvas.addEventListener("click", function (ev) {
      var hit = cellAt(ev);
      if (hit) location.href = "/runs/" + encodeURIComponent(hit.run.run_id);
    });
    load(null);
  }
  document.addEventListener("DOMContentLoaded", start);
})();
