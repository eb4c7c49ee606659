/*
 * The kiosk (/kiosk): enroll with an admin's one-time code, then run unattended.
 *
 * The credential (kiosk, device_token, device_secret) is kept in localStorage, so a reload
 * or a restarted tablet keeps it. Every 15 seconds the kiosk asks GET /api/kiosk/qr (its
 * contact with the server); without an answer it makes the same code itself from its
 * device secret (AbsensiOffline.kioskCode), so the QR code keeps working in an outage.
 * PIN punches made offline are signed with the device secret and queued (IndexedDB),
 * then sent when the network is back. A 401 `revoked` shows "Perangkat dicabut".
 */
(function () {
  "use strict";

  const STORAGE_KEY = "absensi-kiosk";
  // set when the server said "revoked": a reload keeps saying so until someone re-enrolls
  const REVOKED_KEY = "absensi-kiosk-revoked";
  const QUEUE_OWNER = "kiosk";
  const REQUEST_TIMEOUT_MS = 5000;
  const $ = (id) => document.getElementById(id);
  const Offline = window.AbsensiOffline;

  let credential = null;
  let online = null;
  let wakeLock = null;
  let timer = null;

  function loadCredential() {
    try {
      return JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
    } catch (error) {
      return null;
    }
  }

  function show(section) {
    ["kiosk-enroll", "kiosk-revoked", "kiosk-run"].forEach((id) => {
      $(id).hidden = id !== section;
    });
  }

  /** fetch with a timeout; throws TypeError on a network failure or timeout. */
  async function call(method, url, { body, key } = {}) {
    const headers = { Accept: "application/json" };
    if (credential) headers.Authorization = "Bearer " + credential.device_token;
    if (key) headers["Idempotency-Key"] = key;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const controller = new AbortController();
    const timeout = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    try {
      return await fetch(url, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit", cache: "no-store", signal: controller.signal,
      });
    } catch (error) {
      throw new TypeError("network");
    } finally {
      clearTimeout(timeout);
    }
  }

  async function readJson(response) {
    try {
      return await response.json();
    } catch (error) {
      return null;
    }
  }

  // -- enrollment -------------------------------------------------------------------

  async function enroll(event) {
    event.preventDefault();
    const error = $("enroll-error");
    error.hidden = true;
    try {
      const response = await call("POST", "/api/kiosk/enroll", {
        body: { enrollment_code: $("enroll-code").value },
      });
      const data = await readJson(response);
      if (!response.ok) {
        error.textContent = (data && data.message) || "Pendaftaran gagal.";
        error.hidden = false;
        $("enroll-code").focus();
        return;
      }
      credential = { kiosk: data.kiosk, device_token: data.device_token, device_secret: data.device_secret };
      localStorage.setItem(STORAGE_KEY, JSON.stringify(credential));
      localStorage.removeItem(REVOKED_KEY);
      start();
    } catch (failure) {
      error.textContent = "Tidak ada jaringan. Pendaftaran memerlukan koneksi internet.";
      error.hidden = false;
    }
  }

  function revoked() {
    clearTimeout(timer);
    localStorage.removeItem(STORAGE_KEY);
    localStorage.setItem(REVOKED_KEY, "1");
    credential = null;
    show("kiosk-revoked");
    $("btn-reenroll").focus();
  }

  // -- the rotating code --------------------------------------------------------------

  function drawCode(code) {
    const url = location.origin + "/absen?kiosk=" + encodeURIComponent(code);
    const qr = window.qrcode(0, "M");
    qr.addData(url);
    qr.make();
    $("kiosk-qr").innerHTML = qr.createSvgTag({
      cellSize: 6, margin: 4, scalable: true,
      title: { text: "Kode QR absensi: buka " + url, id: "kiosk-qr-title" },
    });
    $("kiosk-qr").dataset.url = url;
    $("kiosk-code").textContent = code;
    $("kiosk-code").dataset.code = code;
  }

  function setOnline(state) {
    if (online === state) return;
    online = state;
    const badge = $("kiosk-connection");
    badge.textContent = state ? "Terhubung" : "Offline — kode dibuat di perangkat";
    badge.className = "badge " + (state ? "kiosk-online" : "kiosk-offline");
    badge.dataset.state = state ? "online" : "offline";
    if (state) flushQueue();
  }

  async function refresh() {
    clearTimeout(timer);
    if (!credential) return;
    try {
      const response = await call("GET", "/api/kiosk/qr");
      const data = await readJson(response);
      if (response.status === 401) {
        revoked();
        return;
      }
      if (!response.ok || !data) throw new TypeError("server");
      drawCode(data.code);
      setOnline(true);
    } catch (error) {
      const slot = Offline.slotOf(Date.now());
      drawCode(await Offline.kioskCode(credential.device_secret, credential.kiosk.id, slot));
      setOnline(false);
    }
    $("kiosk-clock").textContent = new Date().toLocaleTimeString("id-ID", { hour: "2-digit", minute: "2-digit" });
    // the next slot's start (plus a little), so the code changes with the slot
    const period = Offline.SLOT_SECONDS * 1000;
    timer = setTimeout(refresh, period - (Date.now() % period) + 250);
  }

  // -- PIN pad ------------------------------------------------------------------------

  function message(text, kind) {
    const element = $("pin-message");
    element.textContent = text;
    element.dataset.kind = kind || "";
  }

  async function updatePending() {
    const count = await Offline.queue.count(QUEUE_OWNER);
    $("kiosk-pending-count").textContent = String(count);
    $("kiosk-pending").hidden = count === 0;
  }

  function describe(action, status, data) {
    if (status === 200 || status === 201) {
      const attendance = data.attendance;
      const at = action === "check_in" ? attendance.check_in_at : attendance.check_out_at;
      const time = at ? at.slice(11, 16) : "";
      return [(action === "check_in" ? "Selamat datang, " : "Sampai jumpa, ") + attendance.user.name +
              " — tercatat pukul " + time + (attendance.offline ? " (offline)" : "") + ".", "success"];
    }
    return [(data && data.message) || "Gagal (" + status + ").", "error"];
  }

  async function punch(action) {
    const number = $("pin-number").value.trim();
    const pin = $("pin-code").value;
    if (!number || !/^[0-9]{6}$/.test(pin)) {
      message("Isi nomor karyawan dan PIN 6 angka.", "error");
      (number ? $("pin-code") : $("pin-number")).focus();
      return;
    }
    const key = Offline.newKey();
    const body = { employee_number: number, pin, action };
    $("pin-code").value = "";
    try {
      const response = await call("POST", "/api/kiosk/punch", { body, key });
      if (response.status === 401) {
        const data = await readJson(response);
        if (data && data.error === "revoked") {
          revoked();
          return;
        }
        message((data && data.message) || "Nomor karyawan atau PIN salah.", "error");
        return;
      }
      if (response.status >= 500) throw new TypeError("server");
      const [text, kind] = describe(action, response.status, await readJson(response));
      message(text, kind);
      if (kind === "success") $("pin-number").value = "";
    } catch (error) {
      // no network: kept, signed with the device secret, sent when the network is back
      const offlineAt = Offline.isoNow();
      const signature = await Offline.punchSignature(credential.device_secret, credential.kiosk.id,
        number, action, offlineAt);
      await Offline.queue.add({
        key, owner: QUEUE_OWNER, url: "/api/kiosk/punch",
        body: Object.assign({ offline_at: offlineAt, signature }, body),
      });
      $("pin-number").value = "";
      message("Tidak ada jaringan: tersimpan (Tertunda) dan akan dikirim otomatis.", "pending");
      setOnline(false);
    }
    updatePending();
    $("pin-number").focus();
  }

  async function flushQueue() {
    if (!credential) return;
    await Offline.queue.flush(QUEUE_OWNER, (item) => call("POST", item.url, { body: item.body, key: item.key }),
      (item, response, data) => {
        const [text, kind] = describe(item.body.action, response.status, data);
        message("Terkirim: " + text, kind);
      });
    updatePending();
  }

  function setUpPad() {
    const pinInput = $("pin-code");
    document.querySelectorAll(".pin-key").forEach((button) => {
      button.addEventListener("click", () => {
        if (button.dataset.digit !== undefined && pinInput.value.length < 6) pinInput.value += button.dataset.digit;
        if (button.hasAttribute("data-clear")) pinInput.value = pinInput.value.slice(0, -1);
        if (button.hasAttribute("data-reset")) pinInput.value = "";
      });
    });
    let action = "check_in";
    document.querySelectorAll("#pin-form button[type=submit]").forEach((button) => {
      button.addEventListener("click", () => {
        action = button.dataset.action;
      });
    });
    $("pin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      punch(action);
    });
  }

  // -- unattended running -------------------------------------------------------------

  async function keepAwake() {
    try {
      if ("wakeLock" in navigator && document.visibilityState === "visible") {
        wakeLock = await navigator.wakeLock.request("screen");
      }
    } catch (error) {
      wakeLock = null; // not allowed here (battery saver, no user gesture): fine
    }
  }

  function start() {
    show("kiosk-run");
    $("kiosk-name").textContent = credential.kiosk.name;
    $("kiosk-branch").textContent = "Cabang " + credential.kiosk.branch;
    online = null;
    refresh();
    updatePending();
    keepAwake();
  }

  document.addEventListener("DOMContentLoaded", () => {
    Offline.registerServiceWorker();
    $("enroll-form").addEventListener("submit", enroll);
    $("btn-reenroll").addEventListener("click", () => {
      localStorage.removeItem(REVOKED_KEY);
      show("kiosk-enroll");
      $("enroll-code").focus();
    });
    $("btn-fullscreen").addEventListener("click", () => {
      if (document.documentElement.requestFullscreen) document.documentElement.requestFullscreen().catch(() => {});
      keepAwake();
    });
    setUpPad();
    window.addEventListener("online", () => refresh());
    window.addEventListener("offline", () => setOnline(false));
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") {
        keepAwake();
        refresh();
      }
    });
    credential = loadCredential();
    if (credential) start();
    else show(localStorage.getItem(REVOKED_KEY) ? "kiosk-revoked" : "kiosk-enroll");
  });
})();
