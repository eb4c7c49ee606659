/*
 * Absensi.realtime — the one websocket client every page uses (contract §4).
 *
 *   const off = Absensi.realtime.subscribe("attendances", (data, frame) => ..., {
 *     onReload: () => page.reloadOverHttp(),
 *   });
 *
 * - connect() fetches a token (POST /api/realtime/token), opens ws(s)://host/ws,
 *   sends {"op":"auth"} and, once "ready", subscribes every wanted channel.
 * - The last offset of each channel is kept; after a reconnect the channel is
 *   resubscribed with `since` so missed events are replayed in order.
 * - onReload({initial}) runs whenever the page cannot know it is up to date:
 *   the first subscription (initial: true; events may have happened between
 *   the page's HTTP load and now), "recovered": false, or a reconnect before
 *   any offset of that channel was known (initial: false).
 * - Delivery is at-least-once, so events are deduplicated by event_id
 *   (per channel, bounded memory).
 * - Reconnects use exponential backoff with full jitter and a fresh token.
 * - #realtime-status shows "Terhubung" / "Terputus" (data-state adds detail).
 */
(function (global) {
  "use strict";

  const Absensi = (global.Absensi = global.Absensi || {});

  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const AUTH_TIMEOUT_MS = 10000;
  const STABLE_MS = 5000; // a connection must last this long before the backoff resets
  const SEEN_LIMIT = 2000;

  /** channel -> {listeners:Set, offset, state:"idle"|"pending"|"active"|"forbidden", everActive, sentSince} */
  const subs = new Map();
  const seen = new Set();
  const seenOrder = [];
  const statusListeners = new Set();

  let ws = null;
  let state = "idle"; // idle | connecting | open | waiting | closed
  let wanted = false;
  let attempt = 0;
  let generation = 0;
  let retryTimer = null;
  let authTimer = null;
  let stableTimer = null;
  let nextRetryAt = null;

  function socketUrl() {
    const meta = document.querySelector('meta[name="realtime-url"]');
    if (meta && meta.content) return meta.content;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + location.host + "/ws";
  }

  // ------------------------------------------------------------ status
  function setState(next) {
    state = next;
    const el = document.getElementById("realtime-status");
    if (el) {
      const connected = next === "open";
      el.dataset.state = connected ? "connected" : next === "closed" || next === "idle" ? "disconnected" : "connecting";
      const label = el.querySelector(".realtime-label") || el;
      label.textContent = connected ? "Terhubung" : "Terputus";
      el.title = connected
        ? "Pembaruan langsung aktif"
        : next === "waiting" && nextRetryAt
          ? "Menyambung ulang dalam " + Math.max(1, Math.round((nextRetryAt - Date.now()) / 1000)) + " detik"
          : next === "connecting"
            ? "Menyambungkan…"
            : "Pembaruan langsung tidak aktif";
    }
    statusListeners.forEach((fn) => {
      try {
        fn(next);
      } catch (e) {
        console.error(e);
      }
    });
  }

  // ------------------------------------------------------------ connection
  function connect() {
    wanted = true;
    if (state === "connecting" || state === "open") return;
    clearTimeout(retryTimer);
    retryTimer = null;
    open();
  }

  async function open() {
    const gen = ++generation;
    setState("connecting");
    let token;
    try {
      const res = await Absensi.api.post("/api/realtime/token", undefined, { authRedirect: false });
      token = res.token;
    } catch (err) {
      if (gen !== generation) return;
      if (err.status === 401) {
        // The session is gone: retrying cannot help, the login page can.
        wanted = false;
        setState("closed");
        Absensi.sessionExpired();
        return;
      }
      scheduleReconnect();
      return;
    }
    if (gen !== generation || !wanted) return;

    let sock;
    try {
      sock = new WebSocket(socketUrl());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.onopen = () => sock.send(JSON.stringify({ op: "auth", token }));
    sock.onmessage = (message) => {
      if (ws === sock) onFrame(message.data);
    };
    sock.onerror = () => {}; // a close event always follows
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      clearTimeout(authTimer);
      clearTimeout(stableTimer);
      subs.forEach((sub) => {
        if (sub.state !== "forbidden") sub.state = "idle";
      });
      if (wanted) scheduleReconnect();
      else setState("closed");
    };
    // A socket that opens but never says "ready" (stuck proxy) is as good as closed.
    clearTimeout(authTimer);
    authTimer = setTimeout(() => {
      if (ws === sock && state !== "open") sock.close();
    }, AUTH_TIMEOUT_MS);
  }

  function scheduleReconnect() {
    if (!wanted) return;
    clearTimeout(retryTimer);
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
    const delay = Math.max(250, Math.random() * ceiling); // full jitter
    attempt = Math.min(attempt + 1, 10);
    nextRetryAt = Date.now() + delay;
    setState("waiting");
    retryTimer = setTimeout(() => {
      retryTimer = null;
      if (wanted) open();
    }, delay);
  }

  function disconnect() {
    wanted = false;
    generation++;
    clearTimeout(retryTimer);
    clearTimeout(authTimer);
    clearTimeout(stableTimer);
    const sock = ws;
    ws = null;
    if (sock) sock.close(1000);
    subs.forEach((sub) => {
      if (sub.state !== "forbidden") sub.state = "idle";
    });
    setState("closed");
  }

  function send(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  function sendSubscribe(channel, sub) {
    const frame = { op: "subscribe", channel };
    sub.sentSince = sub.offset !== null && sub.offset !== undefined;
    if (sub.sentSince) frame.since = sub.offset;
    sub.state = "pending";
    send(frame);
  }

  // ------------------------------------------------------------ frames
  function onFrame(raw) {
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch (e) {
      return;
    }
    switch (frame.op) {
      case "ready":
        clearTimeout(authTimer);
        // Reset the backoff only once the connection proves stable, so a gateway
        // that accepts and then drops us is not hammered.
        clearTimeout(stableTimer);
        stableTimer = setTimeout(() => (attempt = 0), STABLE_MS);
        nextRetryAt = null;
        setState("open");
        subs.forEach((sub, channel) => {
          if (sub.listeners.size && sub.state === "idle") sendSubscribe(channel, sub);
        });
        break;
      case "subscribed":
        onSubscribed(frame);
        break;
      case "event":
        onEvent(frame);
        break;
      case "error":
        onError(frame);
        break;
      default:
        break;
    }
  }

  function onSubscribed(frame) {
    const sub = subs.get(frame.channel);
    if (!sub) return;
    const continuous = sub.sentSince && frame.recovered === true;
    const initial = !sub.everActive;
    sub.state = "active";
    sub.everActive = true;
    if (!continuous) {
      sub.listeners.forEach((l) => {
        if (l.onReload) safeCall(l.onReload, { initial, recovered: frame.recovered === true }, frame);
      });
    }
  }

  function onEvent(frame) {
    const sub = subs.get(frame.channel);
    if (!sub) return;
    if (frame.offset !== undefined && frame.offset !== null) sub.offset = frame.offset;
    if (frame.event_id !== undefined && frame.event_id !== null) {
      const key = frame.channel + "\u0000" + frame.event_id;
      if (seen.has(key)) return;
      seen.add(key);
      seenOrder.push(key);
      if (seenOrder.length > SEEN_LIMIT) seen.delete(seenOrder.shift());
    }
    Array.from(sub.listeners).forEach((l) => safeCall(l.handler, frame.data, frame));
  }

  function onError(frame) {
    if (frame.code === "unauthenticated") {
      // Expired or rejected token: drop this socket; the reconnect fetches a new one.
      if (ws) ws.close();
      return;
    }
    if (frame.code === "forbidden" && frame.channel && subs.has(frame.channel)) {
      subs.get(frame.channel).state = "forbidden";
    }
    console.warn("realtime:", frame.code, frame.message || "");
  }

  function safeCall(fn, a, b) {
    try {
      fn(a, b);
    } catch (e) {
      console.error(e);
    }
  }

  // ------------------------------------------------------------ public API
  /**
   * subscribe(channel, handler(data, frame), {onReload({initial})}) -> unsubscribe function.
   * Connects on first use.
   */
  function subscribe(channel, handler, options) {
    let sub = subs.get(channel);
    if (!sub) {
      sub = { listeners: new Set(), offset: null, state: "idle", everActive: false, sentSince: false };
      subs.set(channel, sub);
    }
    const listener = { handler, onReload: (options && options.onReload) || null };
    sub.listeners.add(listener);
    if (state === "open" && sub.state === "idle") sendSubscribe(channel, sub);
    connect();
    return () => unsubscribe(channel, listener);
  }

  function unsubscribe(channel, listener) {
    const sub = subs.get(channel);
    if (!sub) return;
    sub.listeners.delete(listener);
    if (!sub.listeners.size) {
      if (sub.state === "active" || sub.state === "pending") send({ op: "unsubscribe", channel });
      sub.state = "idle";
    }
  }

  function onStatus(fn) {
    statusListeners.add(fn);
    fn(state);
    return () => statusListeners.delete(fn);
  }

  // Back online: skip the rest of the backoff.
  global.addEventListener("online", () => {
    if (wanted && state === "waiting") {
      attempt = 0;
      clearTimeout(retryTimer);
      open();
    }
  });
  // Leaving the page is not a disconnection worth showing or retrying.
  global.addEventListener("pagehide", () => {
    wanted = false;
    if (ws) ws.close(1000);
  });
  // Restored from the back/forward cache: the page state is stale, reconnect.
  global.addEventListener("pageshow", (event) => {
    if (event.persisted && Absensi.context && Absensi.context.user) connect();
  });

  Absensi.realtime = {
    connect,
    disconnect,
    subscribe,
    onStatus,
    get state() {
      return state;
    },
    /** Last offset per channel (for debugging and browser tests). */
    offsets() {
      const out = {};
      subs.forEach((sub, channel) => (out[channel] = sub.offset));
      return out;
    },
  };

  // Every signed-in page keeps a connection so the header indicator is truthful;
  // pages add their channels with subscribe().
  if (Absensi.context && Absensi.context.user) {
    document.addEventListener("DOMContentLoaded", connect);
  }
})(window);
