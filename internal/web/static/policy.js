// Policy editor behaviour: editing a value marks its field "set here",
// and the "set here" box keeps its row's label and style in step. The
// form works without it; this only saves a click. Attached by event
// delegation: the Content-Security-Policy forbids inline handlers.
(function () {
  "use strict";

  function sync(box) {
    var row = box.closest("tr");
    if (!row) return;
    row.classList.toggle("set", box.checked);
    row.classList.toggle("inherited", !box.checked);
    var state = row.querySelector("[data-state]");
    if (state) state.textContent = box.checked ? "set here" : "inherited";
  }

  function onEdit(e) {
    var input = e.target;
    if (!input.id || !input.name || input.name.indexOf("v.") !== 0) return;
    // A route's boxes belong to one field: its fieldset's id.
    var field = input.getAttribute("data-field") || input.id;
    var box = document.querySelector('[data-set-for="' + field + '"]');
    if (box && !box.checked) {
      box.checked = true;
      sync(box);
    }
  }

  document.addEventListener("input", onEdit);
  document.addEventListener("change", function (e) {
    if (e.target.hasAttribute && e.target.hasAttribute("data-set-for")) {
      sync(e.target);
      return;
    }
    onEdit(e);
  });
  // Choosing a context shows its effective values at once.
  document.addEventListener("change", function (e) {
    if (e.target.id === "at" && e.target.form) e.target.form.submit();
  });
})();
