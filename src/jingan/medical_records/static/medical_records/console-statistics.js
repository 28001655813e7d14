/* Charts of the record-room statistics page (MR-A5): data from the json_script block. */
(function () {
  "use strict";

  var source = document.getElementById("records-statistics-data");
  if (!source || !window.echarts) {
    return;
  }
  var data = JSON.parse(source.textContent);

  // Tabler's palette, read from its CSS variables so the pie matches the status badges.
  var FALLBACK = {
    blue: "#066fd1", azure: "#4299e1", indigo: "#4263eb", teal: "#0ca678", red: "#d63939",
    orange: "#f76707", green: "#2fb344", cyan: "#17a2b8", lime: "#74b816", yellow: "#f59f00",
    secondary: "#6c7a91", purple: "#ae3ec9"
  };
  var rootStyle = window.getComputedStyle(document.documentElement);
  function colour(name) {
    var value = rootStyle.getPropertyValue("--tblr-" + name).trim();
    return value || FALLBACK[name] || FALLBACK.secondary;
  }

  var charts = [];
  function chart(id, option) {
    var element = document.getElementById(id);
    if (!element) {
      return;
    }
    var instance = window.echarts.init(element, null, { renderer: "canvas" });
    instance.setOption(option);
    charts.push(instance);
  }

  var axisLabel = { interval: 0, rotate: 30, fontSize: 11, hideOverlap: true };
  var grid = { left: 40, right: 16, top: 24, bottom: 64, containLabel: true };

  function labels(rows) { return rows.map(function (row) { return row[0]; }); }
  function values(rows) { return rows.map(function (row) { return row[1]; }); }

  chart("chart-periods", {
    tooltip: { trigger: "axis" },
    grid: grid,
    xAxis: { type: "category", data: labels(data.periods), axisLabel: { fontSize: 11, hideOverlap: true } },
    yAxis: { type: "value", minInterval: 1 },
    series: [{
      name: "申请数", type: "line", smooth: true, symbolSize: 6,
      data: values(data.periods), itemStyle: { color: colour("blue") }, areaStyle: { opacity: 0.12 }
    }]
  });

  chart("chart-institutions", {
    tooltip: { trigger: "axis" },
    grid: grid,
    xAxis: { type: "category", data: labels(data.institutions), axisLabel: axisLabel },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ name: "申请数", type: "bar", barMaxWidth: 28, data: values(data.institutions), itemStyle: { color: colour("blue") } }]
  });

  chart("chart-statuses", {
    tooltip: { trigger: "item", formatter: "{b}：{c}（{d}%）" },
    legend: { type: "scroll", bottom: 0 },
    series: [{
      name: "状态", type: "pie", radius: ["35%", "65%"], center: ["50%", "45%"],
      label: { formatter: "{b} {c}" },
      data: data.statuses
        .filter(function (row) { return row[1] > 0; })
        .map(function (row) { return { name: row[0], value: row[1], itemStyle: { color: colour(row[2]) } }; })
    }]
  });

  chart("chart-purposes", {
    tooltip: { trigger: "axis" },
    grid: grid,
    xAxis: { type: "category", data: labels(data.purposes), axisLabel: axisLabel },
    yAxis: { type: "value", minInterval: 1 },
    series: [{ name: "申请数", type: "bar", barMaxWidth: 28, data: values(data.purposes), itemStyle: { color: colour("teal") } }]
  });

  var uploadNames = labels(data.uploads);
  function uploadSeries(name, index, tone) {
    return {
      name: name, type: "bar", stack: "uploads", barMaxWidth: 28, itemStyle: { color: colour(tone) },
      data: data.uploads.map(function (row) { return row[index]; })
    };
  }
  chart("chart-uploads", {
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { top: 0 },
    grid: { left: 40, right: 16, top: 36, bottom: 64, containLabel: true },
    xAxis: { type: "category", data: uploadNames, axisLabel: axisLabel },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      uploadSeries("已上传", 1, "green"),
      uploadSeries("上传失败", 2, "red"),
      uploadSeries("待上传", 3, "yellow")
    ]
  });

  window.addEventListener("resize", function () {
    charts.forEach(function (instance) { instance.resize(); });
  });
})();
