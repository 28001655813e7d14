/* Visit assistant console: the journey editor's up/down buttons and the event centre chart.
   Both are progressive: without scripts the order numbers still decide the order. */
(function () {
  "use strict";

  // -- journey editor: move a node row and renumber the order fields in page order --------
  var editor = document.querySelector("[data-journey-editor]");
  if (editor) {
    var renumber = function () {
      var rows = editor.querySelectorAll("[data-node-row]");
      rows.forEach(function (row, index) {
        var order = row.querySelector(".visits-order");
        if (order) {
          order.value = String(index + 1);
        }
      });
    };
    editor.addEventListener("click", function (event) {
      var button = event.target.closest("[data-move]");
      if (!button) {
        return;
      }
      var row = button.closest("[data-node-row]");
      if (button.getAttribute("data-move") === "up" && row.previousElementSibling) {
        editor.insertBefore(row, row.previousElementSibling);
      } else if (button.getAttribute("data-move") === "down" && row.nextElementSibling) {
        editor.insertBefore(row.nextElementSibling, row);
      }
      renumber();
      button.focus();
    });
    editor.addEventListener("change", function (event) {
      var target = event.target;
      if (target.type === "checkbox" && target.name.slice(-8) === "-include") {
        target.closest("[data-node-row]").classList.toggle("visits-editor__row--off", !target.checked);
      }
    });
  }

  // -- event centre: events received per minute over the last hour -----------------------
  var source = document.getElementById("visits-centre-data");
  var element = document.getElementById("chart-per-minute");
  if (source && element && window.echarts) {
    var data = JSON.parse(source.textContent);
    var colour = window.getComputedStyle(document.documentElement).getPropertyValue("--tblr-blue").trim() || "#066fd1";
    var chart = window.echarts.init(element, null, { renderer: "canvas" });
    chart.setOption({
      tooltip: { trigger: "axis" },
      grid: { left: 40, right: 16, top: 16, bottom: 32, containLabel: true },
      xAxis: { type: "category", data: data.labels, axisLabel: { fontSize: 11, hideOverlap: true } },
      yAxis: { type: "value", minInterval: 1 },
      series: [{
        name: "事件数", type: "bar", barMaxWidth: 12, data: data.values,
        itemStyle: { color: colour }
      }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
})();
