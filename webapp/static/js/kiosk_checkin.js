/*
 * /absen?kiosk=<code>: check in or out with a kiosk's code in one tap (contract §3.2).
 *
 * The code proves presence at the branch, so no location is asked. Without a network
 * (the phone's, or the whole branch's) the action is kept in IndexedDB with its
 * Idempotency-Key and offline_at (AbsensiOffline.queue), shown as "Tertunda" with a count,
 * and sent at the next page load and on the `online` event; the server then checks the
 * code against offline_at. Each user has their own queue on a shared phone.
 */
(function () {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const Offline = window.AbsensiOffline;

  function owner() {
    const user = window.Absensi && Absensi.context && Absensi.context.user;
    return user ? "user-" + user.id : null;
  }

  function say(text) {
    $("kiosk-checkin-message").textContent = text;
  }

  async function updatePending() {
    const count = await Offline.queue.count(owner());
    $("kiosk-pending-count").textContent = String(count);
    $("kiosk-pending").hidden = count === 0;
  }

  function send(url, body, key) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", cache: "no-store",
      headers: {
        Accept: "application/json", "Content-Type": "application/json",
        "X-CSRF-Token": Absensi.csrfToken(), "Idempotency-Key": key,
      },
      body: JSON.stringify(body),
    });
  }

  function describe(kind, status, data) {
    if (status === 200 || status === 201) {
      const at = kind === "check-in" ? data.attendance.check_in_at : data.attendance.check_out_at;
      return (kind === "check-in" ? "Absen masuk" : "Absen pulang") + " tercatat pukul " +
        Absensi.fmt.time(at) + (data.attendance.offline ? " (offline)" : "") + ".";
    }
    return (data && data.message) || "Gagal (" + status + ").";
  }

  async function act(kind, code, button) {
    const key = Offline.newKey();
    const url = "/api/attendance/" + kind;
    button.disabled = true;
    try {
      let response;
      try {
        response = await send(url, { kiosk_code: code }, key);
      } catch (error) {
        response = null;
      }
      if (response === null || response.status >= 502) {
        await Offline.queue.add({
          key, owner: owner(), url, kind,
          body: { kiosk_code: code, offline_at: Offline.isoNow() },
        });
        say("Tidak ada jaringan: absensi tersimpan (Tertunda) dan dikirim otomatis saat online.");
        await updatePending();
        return;
      }
      if (response.status === 401) {
        Absensi.sessionExpired();
        return;
      }
      const data = await response.json().catch(() => null);
      say(describe(kind, response.status, data));
      if (response.ok) {
        Absensi.toast(describe(kind, response.status, data), { kind: "success" });
        // the status card and history follow from the page's own load
        setTimeout(() => location.replace("/absen"), 1500);
      }
    } finally {
      button.disabled = false;
    }
  }

  async function flush() {
    if (!owner()) return;
    await Offline.queue.flush(owner(), (item) => send(item.url, item.body, item.key),
      (item, response, data) => say("Terkirim: " + describe(item.kind, response.status, data)));
    await updatePending();
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!$("kiosk-checkin")) return;
    Offline.registerServiceWorker();
    const code = new URLSearchParams(location.search).get("kiosk");
    if (code) {
      $("kiosk-checkin-ready").hidden = false;
      $("kiosk-checkin-code").textContent = code;
      ["btn-kiosk-check-in", "btn-kiosk-check-out"].forEach((id) => {
        $(id).addEventListener("click", () => act($(id).dataset.kind, code, $(id)));
      });
    }
    $("kiosk-code-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const typed = $("kiosk-code-input").value.trim();
      if (typed) location.assign("/absen?kiosk=" + encodeURIComponent(typed));
    });
    $("my-pin-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await Absensi.api.put("/api/me/pin", { pin: $("my-pin").value });
        $("my-pin-message").textContent = "PIN tersimpan.";
        $("my-pin").value = "";
      } catch (err) {
        $("my-pin-message").textContent = Absensi.fieldErrors(err);
      }
    });
    window.addEventListener("online", flush);
    flush().catch(() => updatePending());
  });
})();
