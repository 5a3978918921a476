(function () {
  "use strict";
  // Column families that unfold (the index): each button shows or hides its family's cells.
  var folds = document.querySelectorAll("p.folds");
  for (var f = 0; f < folds.length; f++) {
    (function (bar) {
      var table = document.getElementById(bar.getAttribute("data-table"));
      if (!table) { return; }
      var buttons = bar.querySelectorAll("button.fold");
      function show(family, on) {
        var cells = table.querySelectorAll("[data-family]");
        for (var c = 0; c < cells.length; c++) {
          if (family === "*" || cells[c].getAttribute("data-family") === family) { cells[c].hidden = !on; }
        }
        for (var b = 0; b < buttons.length; b++) {
          var key = buttons[b].getAttribute("data-family");
          if (family === "*" || key === family) { buttons[b].setAttribute("aria-pressed", on ? "true" : "false"); }
        }
        if (family !== "*") {
          var all = true;
          for (var k = 0; k < buttons.length; k++) {
            if (buttons[k].getAttribute("data-family") !== "*" && buttons[k].getAttribute("aria-pressed") !== "true") { all = false; }
          }
          bar.querySelector('button.fold[data-family="*"]').setAttribute("aria-pressed", all ? "true" : "false");
        }
      }
      for (var i = 0; i < buttons.length; i++) {
        buttons[i].addEventListener("click", function (e) {
          var button = e.currentTarget;
          show(button.getAttribute("data-family"), button.getAttribute("aria-pressed") !== "true");
        });
      }
    })(folds[f]);
  }
  // Band separators mean something only in ranking order: sorting by the band column (ascending) keeps them.
  var indexes = document.querySelectorAll("table.index");
  for (var t = 0; t < indexes.length; t++) {
    (function (table) {
      var heads = table.tHead.querySelectorAll("th[data-sortable]");
      for (var h = 0; h < heads.length; h++) {
        heads[h].addEventListener("click", function (e) {
          var th = e.currentTarget;
          var ranking = th.classList.contains("band") && th.getAttribute("aria-sort") === "ascending";
          table.classList.toggle("by-band", ranking);
        });
      }
    })(indexes[t]);
  }
  // The two-axis view: the selects pick which pre-rendered scatter is shown.
  var picks = document.querySelectorAll("p.axis-pick");
  for (var p = 0; p < picks.length; p++) {
    (function (pick) {
      var view = document.getElementById(pick.getAttribute("data-view"));
      var x = pick.querySelector('select[data-axis="x"]');
      var y = pick.querySelector('select[data-axis="y"]');
      function update() {
        var figures = view.querySelectorAll("figure.scatter");
        for (var g = 0; g < figures.length; g++) {
          var fig = figures[g];
          fig.hidden = !(fig.getAttribute("data-x") === x.value && fig.getAttribute("data-y") === y.value);
        }
      }
      x.addEventListener("change", update);
      y.addEventListener("change", update);
    })(picks[p]);
  }
})();
