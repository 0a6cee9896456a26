// The pipelines list's strips: each pipeline's last runs arrive as one state character
// per run (data-states, oldest first) and their run ids (data-runs); a strip is one
// element painted with a hard-stop gradient, not a DOM node per run. A click on a
// cell opens its run.
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
