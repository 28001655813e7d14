// Live visit pages: the server says "revision n" over a websocket and the page fetches its
// live fragment and swaps it in, without a reload. When the socket is closed the page polls
// every 15 s instead, and keeps trying to reconnect. No inline scripts (CSP), plain DOM.
(function () {
  "use strict";

  var POLL_MS = 15000;

  function start(live) {
    var url = live.getAttribute("data-live-url");
    var wsPath = live.getAttribute("data-ws-path");
    var socket = null;
    var pollTimer = null;
    var loading = false;
    var again = false;

    function current() {
      return document.getElementById("va-live");
    }

    function shownRevision() {
      var node = current();
      return node ? parseInt(node.getAttribute("data-revision"), 10) || 0 : 0;
    }

    function setMode(mode) {
      var node = current();
      if (node) node.setAttribute("data-live-mode", mode);
      document.documentElement.setAttribute("data-visit-live", mode);
    }

    function refresh() {
      if (loading) { again = true; return; }
      loading = true;
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (response) {
          if (response.redirected || !response.ok) throw new Error("HTTP " + response.status);
          return response.text();
        })
        .then(function (html) {
          var holder = document.createElement("div");
          holder.innerHTML = html.trim();
          var fresh = holder.querySelector("#va-live");
          var old = current();
          if (!fresh || !old) return;
          var freshRevision = parseInt(fresh.getAttribute("data-revision"), 10) || 0;
          if (freshRevision <= shownRevision()) return;
          fresh.setAttribute("data-live-mode", old.getAttribute("data-live-mode") || "");
          fresh.classList.add("is-updated");
          old.replaceWith(fresh);
          document.dispatchEvent(new CustomEvent("visit:updated", { detail: { revision: freshRevision } }));
        })
        .catch(function () { /* next push or poll tries again */ })
        .then(function () {
          loading = false;
          if (again) { again = false; refresh(); }
        });
    }

    function startPolling() {
      if (pollTimer) return;
      setMode("polling");
      pollTimer = window.setInterval(function () {
        refresh();
        connect();
      }, POLL_MS);
    }

    function stopPolling() {
      if (pollTimer) { window.clearInterval(pollTimer); pollTimer = null; }
    }

    function connect() {
      if (!wsPath || !("WebSocket" in window)) { startPolling(); return; }
      if (socket && (socket.readyState === 0 || socket.readyState === 1)) return;
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      try {
        socket = new WebSocket(scheme + window.location.host + wsPath);
      } catch (error) {
        startPolling();
        return;
      }
      socket.onopen = function () {
        stopPolling();
        setMode("socket");
        refresh(); // whatever changed while the socket was down
      };
      socket.onmessage = function (message) {
        var data = {};
        try { data = JSON.parse(message.data); } catch (error) { return; }
        if (typeof data.revision === "number" && data.revision > shownRevision()) refresh();
      };
      socket.onclose = function (event) {
        socket = null;
        // 4401/4403: not this resident's visit (or signed out): polling would only be refused too.
        if (event.code === 4401 || event.code === 4403) { setMode("closed"); return; }
        startPolling();
      };
    }

    connect();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var live = document.getElementById("va-live");
    if (live) start(live);
  });
})();
