/*
 * Big-screen stage: the page is designed for 1920×1080 and scaled as a whole to fit
 * any viewport, keeping the aspect ratio (letterboxed), so panels never reflow.
 * Also drives the live clock in the title bar.
 */
(function () {
  "use strict";

  var DESIGN_WIDTH = 1920;
  var DESIGN_HEIGHT = 1080;

  var stage = document.getElementById("screen-stage");
  if (!stage) {
    return;
  }

  var scale = 1;
  var pending = false;

  function fit() {
    pending = false;
    var width = document.documentElement.clientWidth;
    var height = document.documentElement.clientHeight;
    scale = Math.min(width / DESIGN_WIDTH, height / DESIGN_HEIGHT);
    var left = (width - DESIGN_WIDTH * scale) / 2;
    var top = (height - DESIGN_HEIGHT * scale) / 2;
    stage.style.transform = "translate(" + left + "px, " + top + "px) scale(" + scale + ")";
    stage.classList.add("is-fitted");
  }

  function scheduleFit() {
    if (!pending) {
      pending = true;
      window.requestAnimationFrame(fit);
    }
  }

  // The clock shows the platform's time zone (Asia/Shanghai), not the display PC's.
  function formatter(options) {
    var zone = stage.dataset.timeZone;
    try {
      return new Intl.DateTimeFormat("zh-CN", Object.assign({ timeZone: zone || undefined }, options));
    } catch (error) {
      return new Intl.DateTimeFormat("zh-CN", options);
    }
  }

  var timeFormat = formatter({ hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  var dateFormat = formatter({ year: "numeric", month: "long", day: "numeric" });
  var weekdayFormat = formatter({ weekday: "long" });
  var clock = document.getElementById("screen-clock");
  var date = document.getElementById("screen-date");

  function tick() {
    var now = new Date();
    if (clock) {
      clock.textContent = timeFormat.format(now);
    }
    if (date) {
      date.textContent = dateFormat.format(now) + " " + weekdayFormat.format(now);
    }
  }

  fit();
  tick();
  window.addEventListener("resize", scheduleFit);
  window.setInterval(tick, 1000);

  window.JinganScreen = {
    designWidth: DESIGN_WIDTH,
    designHeight: DESIGN_HEIGHT,
    scale: function () {
      return scale;
    },
    formatTime: function (date) {
      return timeFormat.format(date);
    },
  };
})();
