// Steward dashboard behaviour. Everything is attached by event delegation
// from this file: the Content-Security-Policy forbids inline handlers.
(function () {
  "use strict";

  var root = document.documentElement;
  var darkQuery = window.matchMedia("(prefers-color-scheme: dark)");

  // --- Theme -------------------------------------------------------------
  // theme.js applied the stored choice before paint; here the toggle flips
  // between light and dark and remembers it.
  function effectiveTheme() {
    var t = root.getAttribute("data-theme");
    if (t === "light" || t === "dark") return t;
    return darkQuery.matches ? "dark" : "light";
  }

  function syncThemeToggles() {
    var dark = effectiveTheme() === "dark";
    document.querySelectorAll("[data-theme-toggle]").forEach(function (b) {
      b.setAttribute("aria-pressed", dark ? "true" : "false");
      b.title = dark ? "Switch to light mode" : "Switch to dark mode";
    });
  }

  function toggleTheme() {
    var next = effectiveTheme() === "dark" ? "light" : "dark";
    root.setAttribute("data-theme", next);
    try { localStorage.setItem("steward-theme", next); } catch (e) { /* not persisted */ }
    syncThemeToggles();
    redrawCharts();
  }

  if (darkQuery.addEventListener) {
    darkQuery.addEventListener("change", function () { syncThemeToggles(); redrawCharts(); });
  }

  // --- Copy to clipboard -------------------------------------------------
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain HTTP on a LAN address has no Clipboard API: fall back to a
    // hidden textarea and the legacy command.
    return new Promise(function (resolve, reject) {
      var ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.className = "offscreen";
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(ta);
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  function copyFrom(button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) return;
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    copyText(target.textContent.trim()).then(function () {
      button.textContent = "Copied";
      button.classList.add("copied");
    }, function () {
      // Select the text so Ctrl+C works.
      var range = document.createRange();
      range.selectNodeContents(target);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      button.textContent = "Press Ctrl+C";
    });
    setTimeout(function () {
      button.textContent = label;
      button.classList.remove("copied");
    }, 1800);
  }

  // --- Tabs ---------------------------------------------------------------
  // Without JavaScript every panel shows one after another; with it they
  // become tabs (WAI-ARIA tabs pattern: arrows, Home, End).
  function selectTab(tab, focus) {
    var list = tab.closest("[role=tablist]");
    list.querySelectorAll("[role=tab]").forEach(function (t) {
      var on = t === tab;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.tabIndex = on ? 0 : -1;
      var panel = document.getElementById(t.getAttribute("aria-controls"));
      if (panel) panel.hidden = !on;
    });
    if (focus) tab.focus();
  }

  function initTabs(scope) {
    scope.querySelectorAll("[data-tabs]:not(.tabs-on)").forEach(function (box) {
      box.classList.add("tabs-on");
      var first = box.querySelector("[role=tab][aria-selected=true]") || box.querySelector("[role=tab]");
      if (first) selectTab(first, false);
    });
  }

  // --- Times --------------------------------------------------------------
  // Same wording as the server's relTime; refreshed so "just now" ages.
  function relTime(d) {
    var s = (Date.now() - d.getTime()) / 1000;
    if (s < 60) return "just now";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    if (s < 30 * 86400) return Math.floor(s / 86400) + " d ago";
    return d.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
  }

  function refreshTimes(scope) {
    scope.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      el.title = d.toLocaleString(); // the reader's time zone
      if (el.hasAttribute("data-rel")) el.textContent = relTime(d);
      else if (el.hasAttribute("data-local")) {
        el.textContent = d.toLocaleString(undefined, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
        el.title = relTime(d);
      }
    });
  }

  // --- Charts -------------------------------------------------------------
  // The agent page lists its charts as <figure data-series='[{metric,
  // label}]' data-unit>; each line is fetched from the series endpoint and
  // drawn with uPlot. Colours come from the theme's custom properties, so
  // a theme change redraws the charts from the data already loaded.
  var charts = [];
  var chartRange = "1h";

  function cssVar(name) {
    return getComputedStyle(root).getPropertyValue(name).trim();
  }

  // translucent turns a #rrggbb theme colour into rgba for the area fill.
  function translucent(hex, alpha) {
    var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
    if (!m) return undefined;
    return "rgba(" + parseInt(m[1], 16) + "," + parseInt(m[2], 16) + "," + parseInt(m[3], 16) + "," + alpha + ")";
  }

  // formatValue writes a value in its unit; digits, when given, fixes
  // the decimals (the axis chooses them so no two ticks read the same).
  function formatValue(unit, v, digits) {
    if (v == null || isNaN(v)) return "—";
    if (unit === "percent") return v.toFixed(digits != null ? digits : (v !== 0 && Math.abs(v) < 10 ? 1 : 0)) + "%";
    var units = ["B/s", "kB/s", "MB/s", "GB/s", "TB/s"], i = 0;
    while (Math.abs(v) >= 1000 && i < units.length - 1) { v /= 1000; i++; }
    return v.toFixed(digits != null ? digits : (i > 0 && Math.abs(v) < 10 ? 1 : 0)) + " " + units[i];
  }

  // axisValues labels the ticks with the fewest decimals that keep every
  // label distinct, so a small range never reads "1 B/s 1 B/s 0 B/s".
  function axisValues(unit, vals) {
    for (var d = 0; d <= 3; d++) {
      var out = vals.map(function (v) { return formatValue(unit, v, d); });
      if (new Set(out).size === out.length) return out;
    }
    return vals.map(function (v) { return formatValue(unit, v, 3); });
  }

  // isIdle reports whether a traffic chart's lines are all zero, as on
  // an interface nothing uses (ifb0): such charts are folded away.
  function isIdle(c) {
    return c.unit !== "percent" && c.data.every(function (pts) {
      return pts.every(function (p) { return !p.v; });
    });
  }

  // noteIdle hides idle traffic charts and names them in one line.
  function noteIdle() {
    var note = document.querySelector("[data-idle-note]");
    var idle = charts.filter(function (c) { return c.idle; }).map(function (c) { return c.title; });
    charts.forEach(function (c) { c.fig.hidden = !!c.idle; });
    if (!note) return;
    note.hidden = idle.length === 0;
    note.textContent = idle.length ? "No traffic in this range, not charted: " + idle.join(", ") + "." : "";
  }

  function chartNote(c, text) {
    if (c.plot) { c.plot.destroy(); c.plot = null; }
    c.box.textContent = "";
    var p = document.createElement("p");
    p.className = "chart-note muted";
    p.textContent = text;
    c.box.appendChild(p);
  }

  function drawChart(c) {
    if (!c.data) return;
    var lines = c.data.filter(function (pts) { return pts.length > 0; });
    c.idle = lines.length > 0 && isIdle(c);
    noteIdle();
    if (lines.length === 0) { chartNote(c, "No data in this range."); return; }
    if (c.idle) { if (c.plot) { c.plot.destroy(); c.plot = null; } return; }
    var palette = [cssVar("--accent"), cssVar("--ok"), cssVar("--warn")];
    var text = cssVar("--muted"), grid = cssVar("--border");
    var sets = c.data.map(function (pts) {
      return [pts.map(function (p) { return Date.parse(p.t) / 1000; }), pts.map(function (p) { return p.v; })];
    });
    var data = sets.length === 1 ? sets[0] : window.uPlot.join(sets);
    var fmt = function (u, v) { return formatValue(c.unit, v); };
    var series = [{}];
    c.series.forEach(function (s, i) {
      var color = palette[i % palette.length];
      series.push({
        label: s.label, stroke: color, width: 1.5, value: fmt, spanGaps: false,
        fill: c.series.length === 1 ? translucent(color, 0.14) : undefined
      });
    });
    var axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    var yAxis = Object.assign({}, axis, { size: c.unit === "percent" ? 56 : 80, values: function (u, vals) {
      var out = axisValues(c.unit, vals);
      c.fig.setAttribute("data-y-labels", out.join("|")); // what the axis reads, for tests
      return out;
    } });
    var opts = {
      width: Math.max(200, c.box.clientWidth), height: 200,
      series: series,
      scales: { x: c.span ? { time: true, range: function () { return c.span; } } : { time: true }, y: c.unit === "percent" ? { range: [0, 100] } : { range: function (u, lo, hi) { return [0, Math.max(hi * 1.1, 10)]; } } },
      axes: [axis, yAxis],
      cursor: { points: { size: 6 } },
      legend: { show: true }
    };
    if (c.plot) c.plot.destroy();
    c.box.textContent = "";
    c.plot = new window.uPlot(opts, data, c.box);
  }

  function loadChart(c, base) {
    var gen = ++c.gen;
    Promise.all(c.series.map(function (s) {
      var url = base + "?" + new URLSearchParams({ metric: s.metric, range: chartRange });
      return fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(function (res) {
        if (!res.ok) throw new Error("HTTP " + res.status);
        return res.json();
      }).then(function (body) { c.span = [body.from, body.to]; return body.points || []; });
    })).then(function (data) {
      if (gen !== c.gen) return; // a newer range won
      c.data = data;
      drawChart(c);
    }, function () {
      if (gen !== c.gen) return;
      c.data = null;
      chartNote(c, "Could not load this chart. Reload the page to try again.");
    });
  }

  function initCharts() {
    var holder = document.querySelector("[data-charts]");
    if (!holder || !window.uPlot) return;
    var base = holder.getAttribute("data-charts");
    holder.querySelectorAll("figure[data-series]").forEach(function (fig) {
      var c = {
        box: fig.querySelector(".chart-plot"), unit: fig.getAttribute("data-unit"), fig: fig,
        title: fig.querySelector("figcaption").textContent, idle: false,
        series: JSON.parse(fig.getAttribute("data-series")), plot: null, data: null, gen: 0
      };
      charts.push(c);
      if (window.ResizeObserver) {
        new ResizeObserver(function () {
          if (c.plot) c.plot.setSize({ width: Math.max(200, c.box.clientWidth), height: 200 });
        }).observe(c.box);
      }
      loadChart(c, base);
    });
    document.querySelectorAll("[data-range]").forEach(function (b) {
      b.addEventListener("click", function () {
        chartRange = b.getAttribute("data-range");
        document.querySelectorAll("[data-range]").forEach(function (o) {
          o.setAttribute("aria-pressed", o === b ? "true" : "false");
        });
        charts.forEach(function (c) { loadChart(c, base); });
      });
    });
  }

  function redrawCharts() { charts.forEach(drawChart); }

  // --- Wiring -------------------------------------------------------------
  document.addEventListener("click", function (e) {
    var el = e.target.closest("[data-theme-toggle], [data-copy], [role=tab]");
    if (!el) return;
    if (el.hasAttribute("data-theme-toggle")) toggleTheme();
    else if (el.hasAttribute("data-copy")) copyFrom(el);
    else selectTab(el, true);
  });

  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (t.getAttribute && t.getAttribute("role") === "tab") {
      var tabs = Array.prototype.slice.call(t.closest("[role=tablist]").querySelectorAll("[role=tab]"));
      var i = tabs.indexOf(t), n = tabs.length, j = -1;
      if (e.key === "ArrowRight") j = (i + 1) % n;
      else if (e.key === "ArrowLeft") j = (i - 1 + n) % n;
      else if (e.key === "Home") j = 0;
      else if (e.key === "End") j = n - 1;
      if (j >= 0) { e.preventDefault(); selectTab(tabs[j], true); }
      return;
    }
    // "/" jumps to the search box, unless the user is typing somewhere.
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
    if (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) return;
    var search = document.querySelector("[data-search]");
    if (search) {
      e.preventDefault();
      search.focus();
      search.select();
    }
  });

  // A [data-check-all] box checks or clears every id box of its form.
  document.addEventListener("change", function (e) {
    var all = e.target;
    if (!all.hasAttribute || !all.hasAttribute("data-check-all") || !all.form) return;
    all.form.querySelectorAll('input[type=checkbox][name=id]').forEach(function (b) { b.checked = all.checked; });
  });

  // --- Code textareas -----------------------------------------------------
  // A textarea[data-code] (the script editor) indents with Tab and
  // outdents with Shift+Tab, every selected line at once. Esc gives the
  // next Tab back to the page, so the editor is no keyboard trap.
  var codeIndent = "    ", tabReleased = null;

  function replaceText(ta, from, to, text) {
    ta.focus();
    ta.setSelectionRange(from, to);
    // insertText keeps the browser's undo history; setRangeText is the
    // fallback where it is gone.
    if (!document.execCommand || !document.execCommand("insertText", false, text)) {
      ta.setRangeText(text, from, to, "end");
      ta.dispatchEvent(new Event("input", { bubbles: true }));
    }
  }

  function codeKey(e) {
    var ta = e.target;
    if (e.key === "Escape") { tabReleased = ta; return; }
    if (e.key !== "Tab" || e.ctrlKey || e.metaKey || e.altKey) { tabReleased = null; return; }
    if (tabReleased === ta) { tabReleased = null; return; }
    e.preventDefault();
    var v = ta.value, s = ta.selectionStart, end = ta.selectionEnd;
    if (!e.shiftKey && s === end) { replaceText(ta, s, end, codeIndent); return; }
    var lineStart = v.lastIndexOf("\n", s - 1) + 1;
    // A selection that ends at the start of a line leaves that line alone.
    var last = end > s && v.charAt(end - 1) === "\n" ? end - 1 : end;
    var lineEnd = v.indexOf("\n", last);
    if (lineEnd < 0) lineEnd = v.length;
    var first = 0, total = 0;
    var out = v.slice(lineStart, lineEnd).split("\n").map(function (l, i) {
      var d;
      if (e.shiftKey) {
        var m = l.match(/^(\t| {1,4})/);
        d = m ? -m[0].length : 0;
        l = l.slice(-d);
      } else {
        l = codeIndent + l;
        d = codeIndent.length;
      }
      if (i === 0) first = d;
      total += d;
      return l;
    }).join("\n");
    if (total === 0) return;
    replaceText(ta, lineStart, lineEnd, out);
    if (s === end) {
      var at = Math.max(lineStart, s + first);
      ta.setSelectionRange(at, at);
    } else {
      ta.setSelectionRange(Math.max(lineStart, s + first), end + total);
    }
  }

  document.addEventListener("keydown", function (e) {
    if (e.target.matches && e.target.matches("textarea[data-code]")) codeKey(e);
  });

  // --- Bulk selection -----------------------------------------------------
  // The agents list's row boxes belong to the bulk bar's form through
  // their form attribute, as the table under the bar is swapped by htmx
  // on every filter change and live refresh. The checked IDs are kept here
  // so that a refresh keeps them checked. "All matching" is a flag the
  // server resolves with the filter the table carries; it is dropped when
  // the filter changes.
  var bulkIDs = new Set(), bulkFilter = null;

  function bulkForm() { return document.querySelector("form[data-bulk]"); }

  // The form's id is read as an attribute: form.id would be its inputs
  // named "id", the row boxes.
  function bulkRows(form) {
    return Array.prototype.slice.call(document.querySelectorAll('input[type=checkbox][name=id][form="' + form.getAttribute("id") + '"]'));
  }

  function formatCount(n) { return n.toLocaleString("en-US"); }

  // bulkSync makes the bar tell what is selected and offer what fits.
  function bulkSync(form) {
    var rows = bulkRows(form);
    var checked = rows.filter(function (b) { return b.checked; }).length;
    var table = document.getElementById("agents-table");
    var total = table ? parseInt(table.getAttribute("data-total"), 10) || 0 : 0;
    var all = form.elements.namedItem("all");
    var everyOnPage = rows.length > 0 && checked === rows.length;
    if (!everyOnPage) all.value = "";
    var allMatching = all.value === "1";
    var head = document.querySelector("[data-bulk-page]");
    if (head) {
      head.checked = everyOnPage;
      head.indeterminate = checked > 0 && !everyOnPage;
    }
    var n = allMatching ? total : checked;
    var count = form.querySelector("[data-bulk-count]");
    if (allMatching) count.textContent = "All " + formatCount(total) + " matching agents selected.";
    else if (n === 0) count.textContent = "Select agents in the table to act on them.";
    else count.textContent = (n === 1 ? "1 agent" : formatCount(n) + " agents") + " selected" + (everyOnPage && total > rows.length ? " on this page." : ".");
    var more = form.querySelector("[data-bulk-all-matching]");
    more.hidden = !(everyOnPage && total > rows.length && !allMatching);
    more.textContent = "Select all " + formatCount(total) + " matching agents";
    form.querySelector("[data-bulk-clear]").hidden = n === 0;
    form.querySelectorAll("[data-bulk-submit]").forEach(function (b) { b.disabled = n === 0; });
    form.querySelectorAll("details.bulk-action").forEach(function (d) { if (n === 0) d.open = false; });
  }

  // bulkRestore runs after the table was swapped: the boxes of rows still
  // shown are checked again, and "all matching" survives only an
  // unchanged filter.
  function bulkRestore() {
    var form = bulkForm();
    if (!form) return;
    var filter = form.elements.namedItem("filter");
    var now = filter ? filter.value : "";
    if (bulkFilter !== null && bulkFilter !== now) form.elements.namedItem("all").value = "";
    bulkFilter = now;
    var kept = new Set();
    bulkRows(form).forEach(function (b) {
      if (bulkIDs.has(b.value)) b.checked = true;
      if (b.checked) kept.add(b.value);
    });
    bulkIDs = kept;
    bulkSync(form);
  }

  document.addEventListener("change", function (e) {
    var t = e.target, form = bulkForm();
    if (!form || !t.matches || t.type !== "checkbox") return;
    if (t.hasAttribute("data-bulk-page")) {
      bulkRows(form).forEach(function (b) {
        b.checked = t.checked;
        if (t.checked) bulkIDs.add(b.value); else bulkIDs.delete(b.value);
      });
    } else if (t.name === "id" && t.getAttribute("form") === form.getAttribute("id")) {
      if (t.checked) bulkIDs.add(t.value); else bulkIDs.delete(t.value);
    } else {
      return;
    }
    bulkSync(form);
  });

  document.addEventListener("click", function (e) {
    var form = bulkForm();
    var el = form && e.target.closest && e.target.closest("[data-bulk-all-matching], [data-bulk-clear]");
    if (!el) return;
    if (el.hasAttribute("data-bulk-all-matching")) {
      form.elements.namedItem("all").value = "1";
    } else {
      form.elements.namedItem("all").value = "";
      bulkIDs.clear();
      bulkRows(form).forEach(function (b) { b.checked = false; });
    }
    bulkSync(form);
  });

  // A datetime-local input is in the reader's time zone: on submit, its
  // [data-local-input] names the hidden field that carries it in UTC, and
  // [data-tz-label] says which zone that is.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.querySelectorAll) return;
    form.querySelectorAll("[data-local-input]").forEach(function (input) {
      var out = form.elements[input.getAttribute("data-local-input")];
      if (!out) return;
      var d = input.value ? new Date(input.value) : null;
      out.value = d && !isNaN(d.getTime()) ? d.toISOString() : "";
    });
  }, true);
  function labelTimeZones(scope) {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (err) { zone = ""; }
    if (!zone) return;
    scope.querySelectorAll("[data-tz-label]").forEach(function (el) { el.textContent = "(" + zone + " time)"; });
  }

  // Forms that destroy something ask first.
  // The button that sent a form may ask its own question (the bulk bar
  // holds several actions in one form).
  document.addEventListener("submit", function (e) {
    var sub = e.submitter, msg = sub && sub.getAttribute("data-confirm");
    if (!msg) msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  }, true);

  // Run forms: the ad-hoc command's fields matter only without a library
  // script.
  function syncRunForm(select) {
    var box = select.closest(".run-options"), adhoc = box && box.querySelector("[data-run-adhoc]");
    if (adhoc) adhoc.hidden = select.value !== "";
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches("[data-run-script]")) syncRunForm(e.target);
  });

  // stripANSI removes terminal escape sequences from script output: the
  // page shows text, it interprets no terminal (as the server does).
  function stripANSI(s) {
    return s.replace(/\x1b\[[0-?]*[ -\/]*[@-~]/g, "").replace(/\x1b\][^\x07\x1b]*(\x07|\x1b\\)?/g, "").replace(/\x1b[@-_]?/g, "");
  }

  // A run's page follows the run while it is not finished: output events
  // are appended as text (textContent, never markup), run events update
  // the status, and "end" closes the stream. Each connection (the first,
  // and a reconnection after a network error) sends the output from its
  // first byte, so the text shown is started again on every open.
  function initRunEvents() {
    var panel = document.querySelector("[data-run-events]");
    if (!panel || !window.EventSource) return;
    var pres = { stdout: document.getElementById("run-stdout"), stderr: document.getElementById("run-stderr") };
    var last = { stdout: -1, stderr: -1 };
    var es = new EventSource(panel.getAttribute("data-run-events"));
    es.addEventListener("open", function () {
      pres.stdout.textContent = "";
      pres.stderr.textContent = "";
      last = { stdout: -1, stderr: -1 };
    });
    es.addEventListener("output", function (ev) {
      var o = JSON.parse(ev.data), pre = pres[o.stream];
      if (!pre || o.pos <= last[o.stream]) return;
      pre.textContent += stripANSI(o.text);
      last[o.stream] = o.pos;
    });
    es.addEventListener("run", function (ev) {
      var r = JSON.parse(ev.data);
      var badge = document.querySelector("#run-status .badge");
      if (badge) {
        badge.textContent = r.status.charAt(0).toUpperCase() + r.status.slice(1).replace(/_/g, " ");
        badge.className = "badge run-" + r.status;
      }
      if (r.exit_code !== null && r.exit_code !== undefined) document.getElementById("run-exit").textContent = String(r.exit_code);
      if (r.started_at) document.getElementById("run-started").textContent = new Date(r.started_at).toLocaleString();
      if (r.finished_at) document.getElementById("run-finished").textContent = new Date(r.finished_at).toLocaleString();
      if (r.duration_ms) document.getElementById("run-duration").textContent = (r.duration_ms / 1000).toFixed(1) + "s";
      var err = document.getElementById("run-error");
      if (r.error) { err.textContent = r.error; err.hidden = false; }
      if (r.truncated) document.getElementById("run-truncated").hidden = false;
    });
    es.addEventListener("end", function () {
      es.close();
      panel.removeAttribute("data-run-events");
      panel.setAttribute("data-run-ended", "");
    });
  }

  function init(scope) {
    initTabs(scope);
    refreshTimes(scope);
    labelTimeZones(scope);
  }

  document.addEventListener("DOMContentLoaded", function () {
    syncThemeToggles();
    init(document);
    initCharts();
    bulkRestore();
    document.querySelectorAll("[data-run-script]").forEach(syncRunForm);
    initRunEvents();
  });
  // Fragments swapped in by htmx (search, paging, live refresh).
  document.addEventListener("htmx:afterSettle", function (e) { init(e.target); });
  // Checked boxes come back as soon as the new table is in, not after
  // the settle delay: no flicker.
  document.addEventListener("htmx:afterSwap", bulkRestore);
  setInterval(function () { refreshTimes(document); }, 30000);
})();
