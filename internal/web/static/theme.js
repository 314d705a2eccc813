// Applies the stored colour theme before the first paint, so a dark-mode
// user never sees a white flash. Loaded synchronously in <head>; app.js
// owns the toggle.
(function () {
  try {
    var t = localStorage.getItem("steward-theme");
    if (t === "light" || t === "dark") document.documentElement.setAttribute("data-theme", t);
  } catch (e) { /* storage disabled: follow the system setting */ }
})();
