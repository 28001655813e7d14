/* Charts of the supervision dashboards (SP-1 … SP-7): every chart is described by the
   server in the json_script block, so this one script draws all three pages. */
(function () {
  "use strict";

  var source = document.getElementById("supervision-dashboard-data");
  if (!source || !window.echarts) {
    return;
  }
  var data = JSON.parse(source.textContent);

  // Tabler's palette, read from its CSS variables so charts match the page.
  var FALLBACK = {
    blue: "#066fd1", azure: "#4299e1", indigo: "#4263eb", teal: "#0ca678", red: "#d63939",
    orange: "#f76707", green: "#2fb344", cyan: "#17a2b8", lime: "#74b816", yellow: "#f59f00",
    secondary: "#6c7a91", purple: "#ae3ec9", pink: "#d6336c"
  };
  var rootStyle = window.getComputedStyle(document.documentElement);
  function colour(name) {
    var value = rootStyle.getPropertyValue("--tblr-" + name).trim();
    return value || FALLBACK[name] || FALLBACK.secondary;
  }
  // Ten modules need ten distinguishable lines; series without a colour take these in order.
  var CYCLE = ["blue", "teal", "orange", "purple", "red", "green", "cyan", "yellow", "pink", "indigo"]
    .map(colour);

  var narrow = window.matchMedia("(max-width: 575.98px)").matches;

  function axisOption(chart) {
    var many = chart.series.length > 3;
    return {
      color: CYCLE,
      tooltip: { trigger: "axis", axisPointer: { type: chart.series[0].type === "bar" ? "shadow" : "line" } },
      legend: { type: "scroll", top: 0, itemWidth: 14, itemHeight: 8, textStyle: { fontSize: 11 } },
      grid: { left: 8, right: 12, top: many || narrow ? 44 : 32, bottom: 8, containLabel: true },
      xAxis: {
        type: "category",
        data: chart.categories,
        axisLabel: { fontSize: 11, hideOverlap: true }
      },
      // A series on axis 1 (e.g. a daily mean beside a period total) gets its own scale.
      yAxis: [
        { type: "value", minInterval: 1, name: chart.unit, nameTextStyle: { fontSize: 11 } }
      ].concat(chart.series.some(function (s) { return s.axis === 1; })
        ? [{ type: "value", name: chart.secondUnit || "", nameTextStyle: { fontSize: 11 }, splitLine: { show: false } }]
        : []),
      series: chart.series.map(function (series) {
        var option = {
          name: series.name,
          type: series.type,
          data: series.data,
          smooth: series.type === "line",
          showSymbol: chart.categories.length <= 45,
          connectNulls: false,
          barMaxWidth: 28,
          yAxisIndex: series.axis === 1 ? 1 : 0
        };
        if (series.colour) {
          option.itemStyle = { color: colour(series.colour) };
          option.lineStyle = { color: colour(series.colour) };
        }
        return option;
      })
    };
  }

  function pieOption(chart) {
    return {
      color: ["blue", "pink", "secondary"].map(colour),
      tooltip: { trigger: "item", formatter: "{b}：{c} " + chart.unit + "（{d}%）" },
      legend: { bottom: 0 },
      series: [{
        name: "人数", type: "pie", radius: ["35%", "65%"], center: ["50%", "45%"],
        // On a phone the outside labels do not fit; the legend and the table say it all.
        label: narrow ? { show: false } : { formatter: "{b} {d}%" },
        data: chart.data
      }]
    };
  }

  var instances = [];
  data.charts.forEach(function (chart) {
    var element = document.getElementById(chart.id);
    if (!element) {
      return;
    }
    var instance = window.echarts.init(element, null, { renderer: "canvas" });
    instance.setOption(chart.kind === "pie" ? pieOption(chart) : axisOption(chart));
    instances.push(instance);
  });

  window.addEventListener("resize", function () {
    instances.forEach(function (instance) { instance.resize(); });
  });
})();
