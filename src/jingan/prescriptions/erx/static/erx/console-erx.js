// The prescription editor: add and remove diagnosis and drug lines (Django formsets keep
// their rows numbered 0..n-1, so the rest are renumbered after a removal), and fill a
// drug line from a catalogue match found by the HTMX search.
(function () {
  "use strict";

  function renumber(box) {
    var prefix = box.getAttribute("data-formset");
    var rows = box.querySelectorAll("[data-rows] > *");
    var pattern = new RegExp(prefix + "-(\\d+|__prefix__)-", "g");
    rows.forEach(function (row, index) {
      row.querySelectorAll("[name],[id],[for]").forEach(function (node) {
        ["name", "id", "for"].forEach(function (attribute) {
          var value = node.getAttribute(attribute);
          if (value) {
            node.setAttribute(attribute, value.replace(pattern, prefix + "-" + index + "-"));
          }
        });
      });
      var number = row.querySelector("[data-role=line-no]");
      if (number) {
        number.textContent = String(index + 1);
      }
    });
    box.querySelector("input[name=" + prefix + "-TOTAL_FORMS]").value = String(rows.length);
    var max = parseInt(box.getAttribute("data-max") || "0", 10);
    var add = box.querySelector("[data-add-row]");
    if (add && max) {
      add.disabled = rows.length >= max;
    }
    rows.forEach(function (row) {
      var remove = row.querySelector("[data-remove-row]");
      if (remove) {
        remove.hidden = rows.length <= 1;
      }
    });
  }

  function addRow(box) {
    var template = box.querySelector("template[data-template]");
    var holder = document.createElement("div");
    holder.innerHTML = template.innerHTML;
    var row = holder.firstElementChild;
    box.querySelector("[data-rows]").appendChild(row);
    if (window.htmx) {
      window.htmx.process(row);
    }
    renumber(box);
    var first = row.querySelector("input:not([type=hidden]),select");
    if (first) {
      first.focus();
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) {
      return;
    }
    var add = target.closest("[data-add-row]");
    if (add) {
      addRow(add.closest("[data-formset]"));
      return;
    }
    var remove = target.closest("[data-remove-row]");
    if (remove) {
      var box = remove.closest("[data-formset]");
      remove.closest("[data-rows] > *").remove();
      renumber(box);
      return;
    }
    var pick = target.closest("[data-drug-pick]");
    if (pick) {
      var line = pick.closest("[data-item-row]");
      line.querySelector("[data-role=drug-code]").value = pick.getAttribute("data-code");
      line.querySelector("[data-role=drug-label]").textContent = pick.getAttribute("data-label");
      line.querySelector("[data-role=drug-options]").innerHTML = "";
      line.querySelector("[data-role=drug-search]").value = "";
    }
  });

  document.querySelectorAll("[data-formset]").forEach(renumber);
})();
