// Live prices for Pricelab's own pages: one connection per page to the tenant's feed,
// over WebSocket (the session authenticates it), falling back to Server-Sent Events when a
// WebSocket cannot be opened. Resumes from the last version seen after a drop.
//
// What it does with each change:
// - elements with data-live-price="<sku>" show the new base price, briefly highlighted;
// - a "pricelab:price" event on document carries the change for page scripts;
// - elements with data-live-status show the connection's state (data-state + text).
(function () {
  "use strict";
  const WS_PATH = "/ws/prices/";
  const SSE_PATH = "/api/v1/prices/stream";
  const MAX_BACKOFF_MS = 15000;
  // A WebSocket that has not said "subscribed" within this time counts as failed.
  const WS_OPEN_TIMEOUT_MS = 4000;

  // The version the page was rendered at: the first connection replays anything newer.
  const rendered = parseInt(document.body.dataset.liveSince, 10);
  let version = Number.isNaN(rendered) ? null : rendered;
  let transport = window.PRICELAB_LIVE_TRANSPORT || "ws"; // tests may force "sse"
  let backoff = 1000;
  let wsFailures = 0;

  function setState(state, text) {
    document.querySelectorAll("[data-live-status]").forEach(function (el) {
      el.dataset.state = state;
      el.dataset.transport = transport;
      const label = el.querySelector("[data-live-text]") || el;
      label.textContent = text;
    });
    document.documentElement.dataset.live = state;
  }

  function apply(event) {
    if (event.type !== "price.changed") return;
    if (typeof event.version === "number") version = Math.max(version || 0, event.version);
    document.querySelectorAll("[data-live-price]").forEach(function (el) {
      if (el.dataset.livePrice !== event.sku) return;
      // A product taken off sale has no price to quote.
      el.textContent = event.price === null ? "off sale" : event.price + " " + event.currency;
      el.classList.remove("flash");
      void el.offsetWidth; // restart the highlight
      el.classList.add("flash");
    });
    document.dispatchEvent(new CustomEvent("pricelab:price", { detail: event }));
  }

  function hello(event) {
    if (version === null) version = event.version;
    backoff = 1000;
    setState("live", transport === "ws" ? "Live" : "Live (SSE)");
  }

  function retry() {
    setState("connecting", "Reconnecting…");
    setTimeout(connect, backoff);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }

  function connectWebSocket() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const query = version !== null ? "?since=" + version : "";
    let subscribed = false;
    let socket;
    try {
      socket = new WebSocket(scheme + location.host + WS_PATH + query);
    } catch (e) {
      transport = "sse";
      return connect();
    }
    const timer = setTimeout(function () { if (!subscribed) socket.close(); }, WS_OPEN_TIMEOUT_MS);
    socket.onmessage = function (message) {
      const event = JSON.parse(message.data);
      if (event.type === "subscribed") { subscribed = true; wsFailures = 0; hello(event); }
      else apply(event);
    };
    socket.onclose = function (close) {
      clearTimeout(timer);
      if (close.code === 4401 || close.code === 4403) {
        setState("closed", close.code === 4401 ? "Signed out" : "Not allowed");
        return;
      }
      // Two failures to even subscribe: this network does not pass WebSockets.
      if (!subscribed && ++wsFailures >= 2) transport = "sse";
      retry();
    };
  }

  function connectEventSource() {
    const query = version !== null ? "?since=" + version : "";
    const source = new EventSource(SSE_PATH + query);
    source.addEventListener("subscribed", function (m) { hello(JSON.parse(m.data)); });
    source.addEventListener("price.changed", function (m) { apply(JSON.parse(m.data)); });
    source.addEventListener("access.withdrawn", function () { source.close(); setState("closed", "Not allowed"); });
    source.onerror = function () {
      // EventSource retries by itself with Last-Event-ID; say so while it does.
      if (source.readyState === EventSource.CLOSED) retry();
      else setState("connecting", "Reconnecting…");
    };
  }

  function connect() {
    setState("connecting", "Connecting…");
    if (transport === "ws" && "WebSocket" in window) connectWebSocket();
    else if ("EventSource" in window) { transport = "sse"; connectEventSource(); }
    else setState("closed", "Live updates unavailable in this browser");
  }

  if (document.querySelector("[data-live-price], [data-live-status], [data-live]")) connect();
})();
