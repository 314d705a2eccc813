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
  }

  if (darkQuery.addEventListener) darkQuery.addEventListener("change", syncThemeToggles);

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
    });
  }

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

  // Forms that destroy something ask first.
  document.addEventListener("submit", function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) e.preventDefault();
  }, true);

  function init(scope) {
    initTabs(scope);
    refreshTimes(scope);
  }

  document.addEventListener("DOMContentLoaded", function () {
    syncThemeToggles();
    init(document);
  });
  // Fragments swapped in by htmx (search, paging, live refresh).
  document.addEventListener("htmx:afterSettle", function (e) { init(e.target); });
  setInterval(function () { refreshTimes(document); }, 30000);
})();
