/*
 * "平台运行态势" big screen: polls GET /api/v1/platform/status every 10 s and redraws
 * the KPIs, the status emblem, the component table, the heartbeat panel and the
 * ECharts panels. Trends are kept in the browser only, since the page was opened.
 */
(function () {
  "use strict";

  var root = document.getElementById("platform-screen");
  if (!root || !window.echarts) {
    return;
  }

  var STATUS_URL = root.dataset.statusUrl;
  var INTERVAL_MS = Number(root.dataset.intervalMs) || 10000;
  var HISTORY_POINTS = 60;
  var DEFAULT_HEARTBEAT_MAX_AGE_S = 150;
  var COLORS = {
    cyan: "#1ec8ff",
    blue: "#3b82f6",
    teal: "#22d3ee",
    warn: "#fbbf24",
    fail: "#f87171",
    text: "#dbeeff",
    muted: "#7f9dc4",
    stale: "#52647f",
    grid: "rgba(30, 200, 255, .10)",
    axis: "rgba(30, 200, 255, .25)",
  };
  var SERIES_COLORS = ["#1ec8ff", "#3b82f6", "#34d399", "#a78bfa", "#e879f9", "#22d3ee"];
  var FONT = '"PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif';
  var FACT_LABELS = {
    engine: "数据库",
    backend: "后端",
    pending: "待执行任务",
    age_s: "距上次心跳",
    max_age_s: "超时阈值",
    alive_instances: "存活实例",
    free_mb: "剩余空间",
  };
  var FACT_UNITS = { age_s: " 秒", max_age_s: " 秒", free_mb: " MB", pending: " 个", alive_instances: " 个" };

  var titlesElement = document.getElementById("component-titles");
  var titles = titlesElement ? JSON.parse(titlesElement.textContent) : {};

  function byId(id) {
    return document.getElementById(id);
  }

  function escapeHtml(value) {
    return String(value == null ? "" : value).replace(/[&<>"']/g, function (character) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[character];
    });
  }

  function pad(number) {
    return number < 10 ? "0" + number : String(number);
  }

  function clockTime(date) {
    if (window.JinganScreen) {
      return window.JinganScreen.formatTime(date);
    }
    return pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
  }

  function titleOf(name) {
    return titles[name] || name;
  }

  function formatAge(seconds) {
    if (seconds < 0) {
      seconds = 0;
    }
    if (seconds < 60) {
      return Math.round(seconds) + " 秒";
    }
    if (seconds < 3600) {
      return Math.floor(seconds / 60) + " 分钟";
    }
    if (seconds < 86400) {
      return Math.floor(seconds / 3600) + " 小时";
    }
    return Math.floor(seconds / 86400) + " 天";
  }

  function formatLatency(value) {
    return value == null ? "—" : value.toFixed(2);
  }

  // Canvas charts are drawn at the stage's design size and then scaled with the stage;
  // raise the pixel ratio when the stage is enlarged (4K walls) so they stay sharp.
  function makeChart(id) {
    var scale = window.JinganScreen ? window.JinganScreen.scale() : 1;
    var ratio = (window.devicePixelRatio || 1) * Math.max(1, scale);
    return echarts.init(byId(id), null, { renderer: "canvas", devicePixelRatio: ratio });
  }

  var charts = {
    pie: makeChart("chart-pie"),
    latency: makeChart("chart-latency"),
    trend: makeChart("chart-trend"),
    disk: makeChart("chart-disk"),
    beats: makeChart("chart-beats"),
  };

  var baseOption = {
    textStyle: { fontFamily: FONT, color: COLORS.text },
    animationDuration: 600,
    animationDurationUpdate: 500,
  };

  var tooltip = {
    backgroundColor: "rgba(6, 20, 46, .92)",
    borderColor: "rgba(30, 200, 255, .45)",
    textStyle: { color: COLORS.text, fontSize: 15, fontFamily: FONT },
  };

  function gradient(top, bottom) {
    return new echarts.graphic.LinearGradient(0, 0, 0, 1, [
      { offset: 0, color: top },
      { offset: 1, color: bottom },
    ]);
  }

  // -- what the browser remembers between polls ---------------------------------

  var history = { times: [], latency: {}, freeGb: [] };
  var beatsState = { heartbeats: [], serverNow: 0, fetchedAt: 0, maxAge: DEFAULT_HEARTBEAT_MAX_AGE_S };

  function remember(data, checkedAt) {
    var dataDir = findComponent(data, "data_dir");
    var freeMb = dataDir && typeof dataDir.facts.free_mb === "number" ? dataDir.facts.free_mb : null;
    history.times.push(clockTime(checkedAt));
    data.components.forEach(function (component) {
      var series = history.latency[component.name] || (history.latency[component.name] = []);
      while (series.length < history.times.length - 1) {
        series.push(null);
      }
      series.push(component.latency_ms);
    });
    history.freeGb.push(freeMb == null ? null : Math.round((freeMb / 1024) * 100) / 100);
    if (history.times.length > HISTORY_POINTS) {
      history.times.shift();
      history.freeGb.shift();
      Object.keys(history.latency).forEach(function (name) {
        history.latency[name].shift();
      });
    }
  }

  function findComponent(data, name) {
    for (var index = 0; index < data.components.length; index += 1) {
      if (data.components[index].name === name) {
        return data.components[index];
      }
    }
    return null;
  }

  // -- panels -------------------------------------------------------------------

  function renderKpis(data) {
    var total = data.components.length;
    var failed = data.failed.length;
    byId("kpi-total").textContent = total;
    byId("kpi-ok").textContent = total - failed;
    byId("kpi-failed").textContent = failed;
    byId("kpi-failed-tile").classList.toggle("is-zero", failed === 0);
    var services = data.mode === "services";
    byId("kpi-mode").textContent = services ? "服务化" : "嵌入式";
    byId("kpi-mode-hint").textContent = services ? "独立数据库与 Redis" : "单机一体化部署";
  }

  function renderHero(data, checkedAt) {
    var ok = data.status === "ok";
    byId("hero-emblem").classList.toggle("is-fail", !ok);
    byId("hero-icon").className = "ti " + (ok ? "ti-shield-check" : "ti-alert-triangle");
    byId("hero-status").textContent = ok ? "运行正常" : "存在异常";
    byId("hero-sub").textContent = ok ? "全部组件检查通过" : data.failed.length + " 个组件异常";
    byId("hero-checked").innerHTML =
      '<time datetime="' + escapeHtml(data.checked_at) + '">' + clockTime(checkedAt) + "</time>";
    var total = data.components.reduce(function (sum, component) {
      return sum + (component.latency_ms || 0);
    }, 0);
    byId("hero-latency").textContent = total.toFixed(2);
    var worker = findComponent(data, "worker");
    var alive = worker && worker.facts.alive_instances != null ? worker.facts.alive_instances : "—";
    byId("hero-alive").textContent = alive;
    var failedElement = byId("hero-failed");
    failedElement.textContent = ok ? "无" : data.failed.map(titleOf).join("、");
    failedElement.classList.toggle("is-fail", !ok);
    failedElement.style.fontSize = !ok && failedElement.textContent.length > 6 ? "20px" : "";
  }

  function factsText(facts) {
    return Object.keys(facts)
      .map(function (key) {
        return (FACT_LABELS[key] || key) + " " + facts[key] + (FACT_UNITS[key] || "");
      })
      .join(" · ");
  }

  function renderTable(data) {
    byId("component-rows").innerHTML = data.components
      .map(function (component) {
        var failClass = component.ok ? "" : " is-fail";
        return (
          "<tr>" +
          '<td><span class="dot' + failClass + '" aria-hidden="true"></span>' +
          '<span class="screen-table__title">' + escapeHtml(component.title || titleOf(component.name)) + "</span>" +
          '<span class="screen-table__facts">' + escapeHtml(factsText(component.facts)) + "</span></td>" +
          '<td class="' + failClass.trim() + '">' + escapeHtml(component.detail) + "</td>" +
          '<td class="num">' + formatLatency(component.latency_ms) + "</td>" +
          "</tr>"
        );
      })
      .join("");
  }

  function renderPie(data) {
    var total = data.components.length;
    var failed = data.failed.length;
    var ok = total - failed;
    var rate = total ? Math.round((ok / total) * 1000) / 10 : 0;
    var centerX = charts.pie.getWidth() * 0.34;
    var centerY = charts.pie.getHeight() * 0.5;
    charts.pie.setOption(
      Object.assign({}, baseOption, {
        tooltip: Object.assign({}, tooltip, { trigger: "item", formatter: "{b}：{c} 个（{d}%）" }),
        legend: {
          orient: "vertical",
          right: 16,
          top: "middle",
          itemGap: 22,
          icon: "circle",
          itemWidth: 14,
          itemHeight: 14,
          textStyle: { color: COLORS.text, fontSize: 18, rich: { value: { fontSize: 26, fontWeight: 700, padding: [0, 0, 0, 12] } } },
          formatter: function (name) {
            return name + "{value|" + (name === "正常" ? ok : failed) + "}";
          },
        },
        graphic: [
          {
            type: "text",
            x: centerX,
            y: centerY - 14,
            silent: true,
            style: { text: rate + "%", fill: "#fff", font: "700 34px " + FONT, align: "center", verticalAlign: "middle" },
          },
          {
            type: "text",
            x: centerX,
            y: centerY + 22,
            silent: true,
            style: { text: "健康率", fill: COLORS.muted, font: "16px " + FONT, align: "center", verticalAlign: "middle" },
          },
        ],
        series: [
          {
            type: "pie",
            radius: ["60%", "78%"],
            center: ["34%", "50%"],
            avoidLabelOverlap: false,
            label: { show: false },
            itemStyle: { borderColor: "#06142e", borderWidth: 3 },
            data: [
              { name: "正常", value: ok, itemStyle: { color: COLORS.teal } },
              { name: "异常", value: failed, itemStyle: { color: COLORS.fail } },
            ],
          },
          {
            type: "pie",
            radius: ["86%", "88%"],
            center: ["34%", "50%"],
            silent: true,
            label: { show: false },
            data: [{ value: 1, itemStyle: { color: "rgba(30, 200, 255, .28)" } }],
          },
        ],
      }),
      true
    );
  }

  function renderLatency(data) {
    charts.latency.setOption(
      Object.assign({}, baseOption, {
        grid: { left: 12, right: 20, top: 36, bottom: 6 },
        tooltip: Object.assign({}, tooltip, {
          trigger: "axis",
          axisPointer: { type: "shadow", shadowStyle: { color: "rgba(30, 200, 255, .08)" } },
          valueFormatter: function (value) {
            return formatLatency(value) + " ms";
          },
        }),
        xAxis: {
          type: "category",
          data: data.components.map(function (component) {
            return component.title || titleOf(component.name);
          }),
          axisLabel: { color: COLORS.text, fontSize: 16, margin: 12 },
          axisLine: { lineStyle: { color: COLORS.axis } },
          axisTick: { show: false },
        },
        yAxis: {
          type: "value",
          name: "ms",
          nameTextStyle: { color: COLORS.muted, fontSize: 14 },
          axisLabel: { color: COLORS.muted, fontSize: 14 },
          splitLine: { lineStyle: { color: COLORS.grid, type: "dashed" } },
        },
        series: [
          {
            type: "bar",
            name: "响应耗时",
            barWidth: 40,
            showBackground: true,
            backgroundStyle: { color: "rgba(30, 200, 255, .05)" },
            label: {
              show: true,
              position: "top",
              color: "#fff",
              fontSize: 16,
              formatter: function (params) {
                return formatLatency(params.value);
              },
            },
            data: data.components.map(function (component) {
              return {
                value: component.latency_ms,
                itemStyle: {
                  color: component.ok
                    ? gradient(COLORS.cyan, "rgba(59, 130, 246, .25)")
                    : gradient(COLORS.fail, "rgba(248, 113, 113, .2)"),
                },
              };
            }),
          },
        ],
      }),
      true
    );
  }

  function renderTrend(data) {
    var names = data.components.map(function (component) {
      return component.name;
    });
    charts.trend.setOption(
      Object.assign({}, baseOption, {
        color: SERIES_COLORS,
        grid: { left: 12, right: 24, top: 44, bottom: 6 },
        legend: {
          top: 0,
          right: 8,
          icon: "roundRect",
          itemWidth: 14,
          itemHeight: 4,
          textStyle: { color: COLORS.text, fontSize: 15 },
        },
        tooltip: Object.assign({}, tooltip, {
          trigger: "axis",
          valueFormatter: function (value) {
            return formatLatency(value) + " ms";
          },
        }),
        xAxis: {
          type: "category",
          boundaryGap: false,
          data: history.times,
          axisLabel: { color: COLORS.muted, fontSize: 13 },
          axisLine: { lineStyle: { color: COLORS.axis } },
          axisTick: { show: false },
        },
        yAxis: {
          type: "value",
          name: "ms",
          nameTextStyle: { color: COLORS.muted, fontSize: 14 },
          axisLabel: { color: COLORS.muted, fontSize: 13 },
          splitLine: { lineStyle: { color: COLORS.grid, type: "dashed" } },
        },
        series: names.map(function (name) {
          return {
            type: "line",
            name: titleOf(name),
            smooth: 0.3,
            showSymbol: true,
            symbolSize: 6,
            connectNulls: false,
            lineStyle: { width: 2 },
            data: history.latency[name] || [],
          };
        }),
      }),
      true
    );
  }

  function renderDisk(data) {
    var dataDir = findComponent(data, "data_dir");
    var freeMb = dataDir && typeof dataDir.facts.free_mb === "number" ? dataDir.facts.free_mb : null;
    var valueElement = byId("disk-free");
    var unitElement = byId("disk-unit");
    if (freeMb == null) {
      valueElement.textContent = "—";
      unitElement.textContent = "";
    } else if (freeMb >= 1024) {
      valueElement.textContent = (freeMb / 1024).toFixed(1);
      unitElement.textContent = "GB";
    } else {
      valueElement.textContent = freeMb;
      unitElement.textContent = "MB";
    }
    var state = byId("disk-state");
    state.textContent = dataDir ? dataDir.detail : "—";
    state.className = dataDir && dataDir.ok ? "is-ok" : "is-fail";

    charts.disk.setOption(
      Object.assign({}, baseOption, {
        grid: { left: 8, right: 16, top: 16, bottom: 4 },
        tooltip: Object.assign({}, tooltip, {
          trigger: "axis",
          valueFormatter: function (value) {
            return value == null ? "—" : value.toFixed(2) + " GB";
          },
        }),
        xAxis: { type: "category", boundaryGap: false, data: history.times, show: false },
        yAxis: diskAxis(),
        series: [
          {
            type: "line",
            name: "剩余空间",
            smooth: true,
            symbolSize: 5,
            lineStyle: { width: 2, color: COLORS.cyan },
            itemStyle: { color: COLORS.cyan },
            areaStyle: { color: gradient("rgba(30, 200, 255, .35)", "rgba(30, 200, 255, 0)") },
            data: history.freeGb,
          },
        ],
      }),
      true
    );
  }

  // A flat line would hug the frame: pad the range and keep three evenly spaced labels.
  function diskAxis() {
    var values = history.freeGb.filter(function (value) {
      return value != null;
    });
    var axis = {
      type: "value",
      axisLabel: { color: COLORS.muted, fontSize: 12, formatter: "{value} GB" },
      splitLine: { lineStyle: { color: COLORS.grid, type: "dashed" } },
    };
    if (!values.length) {
      return axis;
    }
    var low = Math.min.apply(null, values);
    var high = Math.max.apply(null, values);
    var padding = Math.max(1, (high - low) * 0.5);
    axis.min = Math.max(0, Math.floor(low - padding));
    axis.max = Math.ceil(high + padding);
    if ((axis.max - axis.min) % 2) {
      axis.max += 1;
    }
    axis.interval = (axis.max - axis.min) / 2;
    return axis;
  }

  function heartbeatAge(heartbeat) {
    var elapsed = (Date.now() - beatsState.fetchedAt) / 1000;
    return (beatsState.serverNow - Date.parse(heartbeat.seen_at)) / 1000 + elapsed;
  }

  function renderBeatsList() {
    var heartbeats = beatsState.heartbeats;
    var list = byId("beats-list");
    if (!heartbeats.length) {
      list.innerHTML = '<li class="beats-list__empty">尚无后台进程上报心跳</li>';
      byId("beats-alive").textContent = "0";
      byId("beats-stale").textContent = "0";
      byId("beats-latest").textContent = "—";
      return;
    }
    var alive = 0;
    var latest = Infinity;
    heartbeats.forEach(function (heartbeat) {
      var age = heartbeatAge(heartbeat);
      if (age <= beatsState.maxAge) {
        alive += 1;
      }
      latest = Math.min(latest, age);
    });
    byId("beats-alive").textContent = alive;
    byId("beats-stale").textContent = heartbeats.length - alive;
    var latestElement = byId("beats-latest");
    latestElement.textContent = formatAge(latest);
    latestElement.classList.toggle("is-warn", latest > beatsState.maxAge);
    list.innerHTML = heartbeats
      .slice(0, 4)
      .map(function (heartbeat) {
        var age = heartbeatAge(heartbeat);
        var stale = age > beatsState.maxAge;
        return (
          "<li>" +
          '<span class="dot' + (stale ? " is-stale" : "") + '" aria-hidden="true"></span>' +
          '<span class="beats-list__name">' + escapeHtml(titleOf(heartbeat.component)) +
          "<small>" + escapeHtml(heartbeat.instance) + "</small></span>" +
          '<span class="beats-list__age' + (stale ? " is-stale" : "") + '">' +
          (stale ? "已停止 · " : "最近心跳 ") + formatAge(age) + "前</span>" +
          "</li>"
        );
      })
      .join("");
  }

  function renderBeats(data) {
    var worker = findComponent(data, "worker");
    beatsState.maxAge = (worker && worker.facts.max_age_s) || DEFAULT_HEARTBEAT_MAX_AGE_S;
    beatsState.serverNow = Date.parse(data.checked_at);
    beatsState.fetchedAt = Date.now();
    beatsState.heartbeats = data.heartbeats.slice().sort(function (a, b) {
      return Date.parse(b.seen_at) - Date.parse(a.seen_at);
    });
    renderBeatsList();

    var shown = beatsState.heartbeats.slice(0, 6).reverse();
    charts.beats.setOption(
      Object.assign({}, baseOption, {
        grid: { left: 8, right: 48, top: 28, bottom: 4 },
        title: {
          text: "累计心跳次数（最近 6 个进程）",
          left: 0,
          top: 0,
          textStyle: { color: COLORS.muted, fontSize: 14, fontWeight: 400 },
        },
        tooltip: Object.assign({}, tooltip, { trigger: "axis", axisPointer: { type: "shadow" } }),
        xAxis: { type: "value", show: false },
        yAxis: {
          type: "category",
          data: shown.map(function (heartbeat) {
            return heartbeat.instance;
          }),
          axisLabel: { color: COLORS.text, fontSize: 14 },
          axisLine: { lineStyle: { color: COLORS.axis } },
          axisTick: { show: false },
        },
        series: [
          {
            type: "bar",
            name: "心跳次数",
            barWidth: 12,
            showBackground: true,
            backgroundStyle: { color: "rgba(30, 200, 255, .05)", borderRadius: 6 },
            label: { show: true, position: "right", color: "#fff", fontSize: 14 },
            data: shown.map(function (heartbeat) {
              var stale = heartbeatAge(heartbeat) > beatsState.maxAge;
              return {
                value: heartbeat.beats,
                itemStyle: {
                  borderRadius: 6,
                  color: stale
                    ? COLORS.stale
                    : new echarts.graphic.LinearGradient(0, 0, 1, 0, [
                        { offset: 0, color: "rgba(59, 130, 246, .5)" },
                        { offset: 1, color: COLORS.cyan },
                      ]),
                },
              };
            }),
          },
        ],
      }),
      true
    );
  }

  // -- polling ------------------------------------------------------------------

  function setFeed(state, text) {
    byId("feed-state").dataset.state = state;
    byId("feed-text").textContent = text;
  }

  function render(data) {
    var checkedAt = new Date(data.checked_at);
    remember(data, checkedAt);
    renderKpis(data);
    renderHero(data, checkedAt);
    renderTable(data);
    renderPie(data);
    renderLatency(data);
    renderTrend(data);
    renderDisk(data);
    renderBeats(data);
    setFeed("ok", "每 10 秒刷新 · " + clockTime(new Date()));
  }

  function poll() {
    window
      .fetch(STATUS_URL, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) {
          throw new Error("登录已失效，请重新登录");
        }
        if (response.status === 403) {
          throw new Error("当前账号无权查看平台运行状态");
        }
        if (!response.ok) {
          throw new Error("数据获取失败（" + response.status + "），正在重试");
        }
        return response.json();
      })
      .then(render)
      .catch(function (error) {
        var message = error && error.message && /[\u4e00-\u9fa5]/.test(error.message) ? error.message : "网络中断，正在重试";
        setFeed("error", message);
      })
      .then(function () {
        window.setTimeout(poll, INTERVAL_MS);
      });
  }

  window.setInterval(renderBeatsList, 1000);
  poll();
})();
