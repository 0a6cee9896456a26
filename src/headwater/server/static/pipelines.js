// The pipelines list. Each pipeline's last runs arrive as one state character per run
// (data-states, oldest first) and their run ids (data-runs); a strip is one element
// painted with a hard-stop gradient, not a DOM node per run, and a click on a cell opens
// its run. The paused switches share one click handler (not 500 htmx elements).
(function () {
  "use strict";
  var CELL = 10, GAP = 2, STEP = CELL + GAP;

  function paint(strip) {
    var hw = window.headwater, codes = strip.dataset.states || "", stops = [];
    for (var i = 0; i < codes.length; i++) {
      var colour = hw.colour(codes.charAt(i)), x = i * STEP;
      stops.push(colour + " " + x + "px " + (x + CELL) + "px", "transparent " + (x + CELL) + "px " + (x + STEP) + "px");
    }
    strip.style.width = Math.max(0, codes.length * STEP - GAP) + "px";
    strip.style.backgroundImage = stops.length ? "linear-gradient(to right, " + stops.join(", ") + ")" : "none";
    strip.dataset.painted = "1";
  }
  function cellAt(strip, event) {
    var x = event.clientX - strip.getBoundingClientRect().left, i = Math.floor(x / STEP);
    if (x - i * STEP >= CELL || i < 0 || i >= (strip.dataset.states || "").length) return -1;
    return i;
  }
  function runs(strip) { return JSON.parse(strip.dataset.runs || "[]"); }
  function paintAll(root) {
    (root || document).querySelectorAll(".strip[data-states]").forEach(paint);
    document.body.dataset.strips = String(performance.now());
  }
  document.addEventListener("DOMContentLoaded", function () {
    paintAll(document);
    document.body.addEventListener("htmx:afterSettle", function (ev) { paintAll(ev.target); });
    document.body.addEventListener("click", function (ev) {
      var button = ev.target.closest && ev.target.closest("button[data-pause]");
      if (button) {
        var id = button.closest("tr").dataset.pipeline, pause = button.dataset.pause === "true";
        if (!window.confirm((pause ? "Pause " : "Unpause ") + id + "?")) return;
        // source: the button, so the CSRF header set on the body goes with it
        htmx.ajax("POST", "/ui/pipelines/" + encodeURIComponent(id) + "/paused",
          { source: button, target: "#flash", values: { paused: button.dataset.pause } });
        return;
      }
      var strip = ev.target.closest && ev.target.closest(".strip[data-states]");
      if (!strip) return;
      var i = cellAt(strip, ev);
      if (i >= 0) location.href = "/runs/" + encodeURIComponent(runs(strip)[i]);
    });
    document.body.addEventListener("mousemove", function (ev) {
      var strip = ev.target.closest && ev.target.closest(".strip[data-states]");
      if (!strip) return;
      var i = cellAt(strip, ev);
      strip.style.cursor = i < 0 ? "default" : "pointer";
      strip.title = i < 0 ? "" : runs(strip)[i] + " · " + window.headwater.NAMES[strip.dataset.states.charAt(i)];
    });
  });
})();
