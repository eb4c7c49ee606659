/*
 * Offline support shared by the kiosk (/kiosk) and the employee page (/absen):
 *
 * - AbsensiOffline.queue: actions made without a network, kept in IndexedDB (so they
 *   survive a closed browser) with their Idempotency-Key and offline_at, and sent again
 *   at page load and on the `online` event. The server replays the first answer to a
 *   repeated key, so sending one twice never counts twice.
 * - AbsensiOffline.kioskCode: the kiosk code of a 15-second slot, made with WebCrypto
 *   exactly as webapp/kiosks/codes.py makes it (HMAC-SHA256 of "<kiosk id>|<slot>" with
 *   the device secret, first 5 bytes in RFC 4648 base32).
 * - AbsensiOffline.punchSignature: the signature of a PIN punch made offline.
 *
 * Plain script, no dependencies: the kiosk page does not load the app's other scripts.
 */
(function (global) {
  "use strict";

  const DB_NAME = "absensi-offline";
  const STORE = "queue";
  const SLOT_SECONDS = 15;
  const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

  function openDb() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        request.result.createObjectStore(STORE, { keyPath: "key" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  function withStore(mode, work) {
    return openDb().then((db) => new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const result = work(tx.objectStore(STORE));
      tx.oncomplete = () => {
        db.close();
        resolve(result && "result" in result ? result.result : undefined);
      };
      tx.onerror = () => {
        db.close();
        reject(tx.error);
      };
    }));
  }

  /** True for a failure that means "no network" (not an answer from the server). */
  function isNetworkError(error) {
    return error instanceof TypeError || (error && error.name === "NetworkError");
  }

  const queue = {
    /** Keep an action: {key, url, body, owner}; `owner` says whose queue it is. */
    add(item) {
      return withStore("readwrite", (store) => store.put(Object.assign({ queuedAt: Date.now() }, item)));
    },
    all(owner) {
      return withStore("readonly", (store) => store.getAll()).then((items) =>
        (items || []).filter((item) => !owner || item.owner === owner)
          .sort((a, b) => a.queuedAt - b.queuedAt));
    },
    remove(key) {
      return withStore("readwrite", (store) => store.delete(key));
    },
    count(owner) {
      return queue.all(owner).then((items) => items.length);
    },
    /**
     * Send the owner's actions oldest first with send(item) -> fetch Response. An answer
     * (success, or a refusal such as 409/422) removes the action and is passed to
     * onAnswer(item, response, body); a network failure, a 5xx, 401, 403 or 429 keeps it.
     */
    async flush(owner, send, onAnswer) {
      const items = await queue.all(owner);
      for (const item of items) {
        let response;
        try {
          response = await send(item);
        } catch (error) {
          if (isNetworkError(error)) return;
          throw error;
        }
        // not an answer about the action (session, CSRF token, throttle, outage): later
        if (response.status >= 500 || [401, 403, 429].includes(response.status)) return;
        let body = null;
        try {
          body = await response.json();
        } catch (error) {
          body = null;
        }
        await queue.remove(item.key);
        if (onAnswer) onAnswer(item, response, body);
      }
    },
  };

  function base32(bytes) {
    let bits = 0;
    let value = 0;
    let out = "";
    for (const byte of bytes) {
      value = (value << 8) | byte;
      bits += 8;
      while (bits >= 5) {
        out += BASE32[(value >>> (bits - 5)) & 31];
        bits -= 5;
      }
    }
    if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
    return out;
  }

  async function hmac(secret, message) {
    const encoder = new TextEncoder();
    const key = await crypto.subtle.importKey("raw", encoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
  }

  function slotOf(millis) {
    return Math.floor(millis / 1000 / SLOT_SECONDS);
  }

  async function kioskCode(secret, kioskId, slot) {
    const digest = await hmac(secret, kioskId + "|" + slot);
    return kioskId + "-" + slot + "-" + base32(digest.slice(0, 5));
  }

  async function punchSignature(secret, kioskId, employeeNumber, action, offlineAt) {
    const digest = await hmac(secret, ["punch", kioskId, employeeNumber, action, offlineAt].join("|"));
    return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  /** The device's time as ISO 8601 with its UTC offset, to the second (what offline_at takes). */
  function isoNow(date) {
    const d = date || new Date();
    const pad = (n) => String(Math.abs(n)).padStart(2, "0");
    const offset = -d.getTimezoneOffset();
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
      (offset >= 0 ? "+" : "-") + pad(Math.trunc(offset / 60)) + ":" + pad(offset % 60);
  }

  function newKey() {
    if (global.crypto && typeof global.crypto.randomUUID === "function") return global.crypto.randomUUID();
    const b = global.crypto.getRandomValues(new Uint8Array(16));
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }

  /** Register the service worker (the app shell offline); harmless where unsupported. */
  function registerServiceWorker() {
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
    }
  }

  global.AbsensiOffline = {
    queue, kioskCode, punchSignature, slotOf, isoNow, newKey, isNetworkError,
    registerServiceWorker, SLOT_SECONDS,
  };
})(window);
