// The graph view: a canvas drawn from coordinates laid out on the server, coloured by
// the run's states (one character per task) and kept live by the server's event stream,
// which says when to read ONE compact endpoint for the whole run again. Wheel zooms, drag pans, a click
// on a task opens its tries and logs. An asset's lineage reuses it: data-layout names its
// endpoint (whose answer carries the states), data-link what a click opens, and
// data-focus the node outlined.
(function () {
  "use strict";
  var COL = 190, ROW = 34, BOX_W = 150, BOX_H = 22, POLL_MS = 1000;

  function start() {
    var canvas = document.getElementById("graph");
    if (!canvas) return;
    var runId = canvas.dataset.run || null;
    var pipeline = canvas.dataset.pipeline;
    var layout = null, states = "", view = { scale: 1, x: 10, y: 10 }, fitted = false;
    var initialBadge = document.getElementById("run-state");
    // the state the page was rendered in: a first poll that finds another refreshes the header
    var runState = initialBadge ? initialBadge.dataset.state : null;
    var hw = window.headwater;

    function size() {
      var box = canvas.parentElement.getBoundingClientRect();
      var h = layout ? Math.min(460, Math.max(120, layout.height * ROW + 20)) : 460;
      return { w: Math.max(box.width, 200), h: h };
    }
    function fitView() {
      var s = size();
      var w = layout.width * COL, h = layout.height * ROW;
      view.scale = Math.min(1, (s.w - 20) / Math.max(w, 1), (s.h - 20) / Math.max(h, 1));
      view.x = 10; view.y = 10; fitted = true;
    }
    // Task groups (ids with a dot prefix: "extract.orders" is in group "extract") can be
    // collapsed into one node, drawn where the group's first task is and coloured by
    // the most urgent state inside.
    var URGENCY = "fuyrwqnks.";
    var collapsed = {}, groups = [], model = null;
    function groupOf(id) { var d = id.indexOf("."); return d > 0 ? id.slice(0, d) : null; }
    function worst(a, b) { return URGENCY.indexOf(a) <= URGENCY.indexOf(b) ? a : b; }
    function buildModel() {
      var ids = layout.ids, n = ids.length;
      if (!Object.keys(collapsed).length) {
        return { n: n, x: layout.x, y: layout.y, edges: layout.edges, task: null,
          label: function (k) { return ids[k]; },
          code: function (k) { return states.charAt(k) || "n"; } };
      }
      var x = [], y = [], task = [], codes = [], labels = [], rep = new Array(n), byGroup = {};
      for (var i = 0; i < n; i++) {
        var g = groupOf(ids[i]), code = states.charAt(i) || "n";
        if (g !== null && collapsed[g]) {
          var k = byGroup[g];
          if (k === undefined) {
            k = byGroup[g] = x.length;
            x.push(layout.x[i]); y.push(layout.y[i]); task.push(-1); codes.push(code);
            labels.push(g + " ▸ 1");
          } else {
            codes[k] = worst(codes[k], code);
            var count = Number(labels[k].split(" ▸ ")[1]) + 1;
            labels[k] = g + " ▸ " + count;
            if (layout.x[i] < x[k] || (layout.x[i] === x[k] && layout.y[i] < y[k])) {
              x[k] = layout.x[i]; y[k] = layout.y[i];
            }
          }
          rep[i] = k;
        } else {
          rep[i] = x.length;
          x.push(layout.x[i]); y.push(layout.y[i]); task.push(i); codes.push(code); labels.push(ids[i]);
        }
      }
      var seen = {}, edges = [];
      layout.edges.forEach(function (e) {
        var a = rep[e[0]], b = rep[e[1]], key = a + ">" + b;
        if (a === b || seen[key]) return;
        seen[key] = true;
        edges.push([a, b]);
      });
      return { n: x.length, x: x, y: y, edges: edges, task: task,
        label: function (k) { return labels[k]; }, code: function (k) { return codes[k]; } };
    }
    function showGroups() {
      var box = document.getElementById("graph-groups");
      if (!box || !groups.length) return;
      box.hidden = false;
      box.innerHTML = '<span class="muted small">Groups:</span> ' + groups.map(function (g) {
        return '<button class="link small" data-group="' + g.replace(/"/g, "&quot;") + '">' +
          (collapsed[g] ? "▸ " : "▾ ") + g.replace(/</g, "&lt;") + "</button>";
      }).join(" ");
    }
    function toggle(group) {
      if (collapsed[group]) delete collapsed[group]; else collapsed[group] = true;
      canvas.dataset.collapsed = Object.keys(collapsed).sort().join(",");
      model = null;
      showGroups();
      draw();
    }

    function draw() {
      if (!layout) return;
      var s = size();
      if (s.w < 10 || canvas.parentElement.classList.contains("hidden")) return;
      if (!fitted) fitView();
      model = buildModel();
      var ctx = hw.fit(canvas, s.w, s.h);
      ctx.clearRect(0, 0, s.w, s.h);
      ctx.save();
      ctx.translate(view.x, view.y);
      ctx.scale(view.scale, view.scale);
      var xs = model.x, ys = model.y, n = model.n;
      // edges: one path, right side of the upstream to the left side of the downstream
      ctx.strokeStyle = view.scale < 0.3 ? "rgba(120,130,145,0.25)" : "#b8c0cc";
      ctx.lineWidth = 1 / Math.max(view.scale, 0.2);
      ctx.beginPath();
      var edges = model.edges;
      for (var e = 0; e < edges.length; e++) {
        var a = edges[e][0], b = edges[e][1];
        var x1 = xs[a] * COL + BOX_W, y1 = ys[a] * ROW + BOX_H / 2;
        var x2 = xs[b] * COL, y2 = ys[b] * ROW + BOX_H / 2;
        ctx.moveTo(x1, y1);
        ctx.bezierCurveTo(x1 + 20, y1, x2 - 20, y2, x2, y2);
      }
      ctx.stroke();
      // nodes, grouped by state so the fill colour changes a few times, not per node
      var byCode = {};
      for (var i = 0; i < n; i++) {
        var code = model.code(i);
        (byCode[code] = byCode[code] || []).push(i);
      }
      Object.keys(byCode).forEach(function (code) {
        ctx.fillStyle = hw.colour(code);
        ctx.beginPath();
        byCode[code].forEach(function (k) { ctx.rect(xs[k] * COL, ys[k] * ROW, BOX_W, BOX_H); });
        ctx.fill();
      });
      if (model.task) {  // collapsed groups get a darker outline
        ctx.strokeStyle = "#1d2430";
        ctx.lineWidth = 2 / Math.max(view.scale, 0.2);
        for (var g = 0; g < n; g++) {
          if (model.task[g] < 0) ctx.strokeRect(xs[g] * COL, ys[g] * ROW, BOX_W, BOX_H);
        }
      }
      if (view.scale > 0.45) {
        ctx.fillStyle = "#1d2430";
        ctx.font = "12px system-ui, sans-serif";
        ctx.textBaseline = "middle";
        // labels only for nodes on screen
        var left = -view.x / view.scale, top = -view.y / view.scale;
        var right = left + s.w / view.scale, bottom = top + s.h / view.scale;
        for (var j = 0; j < n; j++) {
          var nx = xs[j] * COL, ny = ys[j] * ROW;
          if (nx > right || nx + BOX_W < left || ny > bottom || ny + BOX_H < top) continue;
          var label = model.label(j);
          if (label.length > 22) label = label.slice(0, 21) + "…";
          ctx.fillText(label, nx + 6, ny + BOX_H / 2);
        }
      }
      var focus = canvas.dataset.focus ? layout.ids.indexOf(canvas.dataset.focus) : -1;
      if (focus >= 0 && !model.task) {
        ctx.strokeStyle = "#1d2430";
        ctx.lineWidth = 3 / Math.max(view.scale, 0.2);
        ctx.strokeRect(xs[focus] * COL - 2, ys[focus] * ROW - 2, BOX_W + 4, BOX_H + 4);
      }
      ctx.restore();
      canvas.dataset.painted = String(performance.now());
    }

    // the node (of the model drawn) under a point of the canvas, or -1
    function nodeAt(px, py) {
      if (!model) return -1;
      var gx = (px - view.x) / view.scale, gy = (py - view.y) / view.scale;
      var col = Math.floor(gx / COL), row = Math.floor(gy / ROW);
      if (gx - col * COL > BOX_W || gy - row * ROW > BOX_H) return -1;
      for (var i = 0; i < model.n; i++) {
        if (model.x[i] === col && model.y[i] === row) return i;
      }
      return -1;
    }
    function taskOf(k) { return !model.task ? k : model.task[k]; }

    var drag = null, moved = false;
    canvas.addEventListener("mousedown", function (ev) { drag = { x: ev.clientX, y: ev.clientY }; moved = false; });
    window.addEventListener("mouseup", function () { drag = null; });
    canvas.addEventListener("mousemove", function (ev) {
      if (drag) {
        view.x += ev.clientX - drag.x; view.y += ev.clientY - drag.y;
        if (Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) > 0) moved = true;
        drag = { x: ev.clientX, y: ev.clientY };
        requestAnimationFrame(draw);
        return;
      }
      if (!layout) return;
      var r = canvas.getBoundingClientRect();
      var i = nodeAt(ev.clientX - r.left, ev.clientY - r.top);
      canvas.title = i < 0 ? "" : model.label(i) + " · " + hw.NAMES[model.code(i)] +
        (taskOf(i) < 0 ? " (a collapsed group: click to expand)" : "");
    });
    canvas.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var r = canvas.getBoundingClientRect();
      var px = ev.clientX - r.left, py = ev.clientY - r.top;
      var factor = ev.deltaY < 0 ? 1.15 : 1 / 1.15;
      var scale = Math.min(3, Math.max(0.02, view.scale * factor));
      view.x = px - (px - view.x) * (scale / view.scale);
      view.y = py - (py - view.y) * (scale / view.scale);
      view.scale = scale;
      requestAnimationFrame(draw);
    }, { passive: false });
    canvas.addEventListener("click", function (ev) {
      if (moved || !layout) return;
      var r = canvas.getBoundingClientRect();
      var i = nodeAt(ev.clientX - r.left, ev.clientY - r.top);
      if (i < 0) return;
      var task = taskOf(i);
      if (task < 0) { toggle(model.label(i).split(" ▸ ")[0]); return; }
      if (canvas.dataset.link) { location.href = canvas.dataset.link + layout.ids[task]; return; }
      if (runId && window.htmx) {
        htmx.ajax("GET", "/ui/runs/" + encodeURIComponent(runId) + "/tasks/" +
          encodeURIComponent(layout.ids[task]), { target: "#task" });
      }
    });

    function showState(data) {
      var badge = document.getElementById("run-state");
      if (badge && runState !== null && data.state !== runState) {
        // the run changed state: refresh its header (times, actions) and the task table
        refreshHead();
        document.body.dispatchEvent(new Event("run-changed"));
      } else if (badge) {
        badge.textContent = data.state;
        badge.className = "badge s-" + data.state;
        badge.dataset.state = data.state;
      }
      runState = data.state;
      var counts = document.getElementById("counts");
      if (counts && data.counts) {
        var total = 0, html = "";
        Object.keys(data.counts).sort().forEach(function (s) {
          total += data.counts[s];
          html += '<span class="count"><i class="dot s-' + s + '"></i>' + s.replace(/_/g, " ") + " " + data.counts[s] + "</span>";
        });
        counts.innerHTML = html + ' <span class="muted">' + total + " task instances</span>";
      }
    }

    // Header refreshes may overlap (queued -> running -> failed within a second): only the
    // latest one asked for is shown, so an older answer never replaces a newer state.
    var headAsked = 0;
    function refreshHead() {
      var asked = ++headAsked;
      fetch(location.pathname, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (text) {
          if (!text || asked !== headAsked) return;
          var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("run-head");
          var head = document.getElementById("run-head");
          if (!fresh || !head) return;
          head.replaceWith(fresh);
          if (window.htmx) htmx.process(fresh);
        });
    }

    // Live updates are pushed: the server's event stream (/api/v1/events, one shared
    // store poller per server) says when a task or the run changed, and only then is
    // the run's compact state read again. Without a stream (it failed or closed) the
    // page falls back to reading it once a second.
    var reading = false, again = false, polling = false, events = 0, waiting = [];
    function settle(data) {
      var callbacks = waiting;
      waiting = [];
      callbacks.forEach(function (callback) { callback(data); });
    }
    // Reads coalesce: one request at a time, and one more if asked meanwhile.
    function read(next) {
      if (next) waiting.push(next);
      if (reading) { again = true; return; }
      reading = true;
      fetch("/ui/data/runs/" + encodeURIComponent(runId) + "/states", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          reading = false;
          if (data) {
            var changed = data.states !== states;
            states = data.states;
            canvas.dataset.states = states;
            if (changed) {
              draw();
              document.dispatchEvent(new CustomEvent("headwater:states", { detail: data }));
            }
            showState(data);
          }
          if (again) { again = false; read(); return; }
          settle(data);
        })
        .catch(function () { reading = false; settle(null); });
    }
    function poll() {
      polling = true;
      canvas.dataset.live = "poll";
      read(function (data) {
        var wait = !data ? POLL_MS * 3 : data.finished ? POLL_MS * 5 : POLL_MS;
        setTimeout(poll, wait); // a retry or clear can bring a finished run back
      });
    }
    function listen() {
      if (!window.EventSource) { poll(); return; }
      var source = new EventSource("/api/v1/events");
      function mine(ev) {
        var data;
        try { data = JSON.parse(ev.data); } catch (e) { return; }
        if (data.run_id !== runId) return;
        canvas.dataset.events = String(++events);
        read();
      }
      source.addEventListener("run", mine);
      source.addEventListener("task", mine);
      source.addEventListener("open", function () {
        canvas.dataset.live = "sse";
        // re-read what may have changed before the stream's first comparison
        read();
        setTimeout(read, POLL_MS * 2);
      });
      source.addEventListener("error", function () {
        if (source.readyState === EventSource.CLOSED && !polling) poll();
      });
      // a safety net, far from once a second: an event lost in transit is caught up
      setInterval(function () { if (canvas.dataset.live === "sse") read(); }, 30000);
    }

    var layoutUrl = canvas.dataset.layout ||
      "/ui/data/pipelines/" + encodeURIComponent(pipeline) + "/layout";
    fetch(layoutUrl, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        layout = data;
        if (!runId && data.states) { states = data.states; canvas.dataset.states = states; }
        canvas.dataset.nodes = String(data.ids.length);
        var found = {};
        data.ids.forEach(function (id) { var g = groupOf(id); if (g !== null) found[g] = true; });
        groups = Object.keys(found).sort();
        canvas.dataset.groups = groups.join(",");
        showGroups();
        if (runId) read(listen); else draw();
      });
    var groupBox = document.getElementById("graph-groups");
    if (groupBox) groupBox.addEventListener("click", function (ev) {
      var button = ev.target.closest("button[data-group]");
      if (button) toggle(button.dataset.group);
    });
    window.addEventListener("resize", function () { requestAnimationFrame(draw); });
    document.addEventListener("headwater:view", function (ev) {
      if (ev.detail === "graph") requestAnimationFrame(draw);
    });
  }
  document.addEventListener("DOMContentLoaded", start);
})();
