(function () {
  "use strict";
  function valueOf(row, index, type) {
    var cell = row.cells[index];
    var raw = cell ? cell.getAttribute("data-value") : null;
    if (raw === null || raw === "") { return null; }
    return type === "text" ? raw.toLowerCase() : parseFloat(raw);
  }
  function sortBy(table, th) {
    var index = th.cellIndex;
    var type = th.getAttribute("data-type") || "number";
    var now = th.getAttribute("aria-sort");
    var dir = now ? (now === "descending" ? "ascending" : "descending") : th.getAttribute("data-first");
    var sign = dir === "ascending" ? 1 : -1;
    var heads = table.tHead.querySelectorAll("th[data-sortable]");
    for (var h = 0; h < heads.length; h++) { heads[h].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", dir);
    for (var b = 0; b < table.tBodies.length; b++) {
      var body = table.tBodies[b];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (x, y) {
        var vx = valueOf(x, index, type), vy = valueOf(y, index, type);
        if (vx === null || vy === null) { return (vx === null) - (vy === null); }
        return vx < vy ? -sign : vx > vy ? sign : 0;
      });
      for (var r = 0; r < rows.length; r++) { body.appendChild(rows[r]); }
    }
  }
  var tables = document.querySelectorAll("table.sortable");
  for (var t = 0; t < tables.length; t++) {
    (function (table) {
      var heads = table.tHead ? table.tHead.querySelectorAll("th[data-sortable]") : [];
      for (var i = 0; i < heads.length; i++) {
        (function (th) {
          th.setAttribute("tabindex", "0");
          th.addEventListener("click", function () { sortBy(table, th); });
          th.addEventListener("keydown", function (e) {
            if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th); }
          });
        })(heads[i]);
      }
    })(tables[t]);
  }
  function openTarget() {  // a link to a folded section (#cost) unfolds it and the sections around it
    var id = decodeURIComponent(window.location.hash.slice(1));
    var node = id ? document.getElementById(id) : null;
    for (; node; node = node.parentElement) {
      if (node.tagName === "DETAILS") { node.open = true; }
    }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  var buttons = document.querySelectorAll("button.copy");
  for (var c = 0; c < buttons.length; c++) {
    buttons[c].addEventListener("click", function (e) {
      var area = document.getElementById(e.currentTarget.getAttribute("data-target"));
      if (!area) { return; }
      area.focus();
      area.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(area.value).catch(function () { /* selected: Ctrl+C still works */ });
      }
    });
  }
})();
