// Shared by the canvas views: the one-character state codes and their colours (read
// from the CSS variables), and the tabs that switch views.
(function () {
  "use strict";
  var NAMES = { n: "none", q: "queued", r: "running", s: "success", f: "failed", k: "skipped",
    u: "upstream_failed", y: "up_for_retry", w: "up_for_reschedule", ".": "missing" };
  var colours = null;
  function colour(code) {
    if (colours === null) {
      colours = {};
      var style = getComputedStyle(document.documentElement);
      Object.keys(NAMES).forEach(function (c) {
        colours[c] = style.getPropertyValue("--s-" + NAMES[c]).trim() || "#ccc";
      });
    }
    return colours[code] || colours.n;
  }
  // A canvas sized to its box at the screen's pixel ratio; returns its 2D context.
  function fit(canvas, width, height) {
    var ratio = window.devicePixelRatio || 1;
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    var ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    return ctx;
  }
  window.headwater = { NAMES: NAMES, colour: colour, fit: fit };
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".tabs").forEach(function (tabs) {
      tabs.addEventListener("click", function (event) {
        var tab = event.target.closest(".tab");
        if (!tab) return;
        tabs.querySelectorAll(".tab").forEach(function (t) {
          t.classList.toggle("active", t === tab);
          var view = document.getElementById("view-" + t.dataset.view);
          if (view) view.classList.toggle("hidden", t !== tab);
        });
        document.dispatchEvent(new CustomEvent("headwater:view", { detail: tab.dataset.view }));
      });
    });
  });
})();
