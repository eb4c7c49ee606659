/*
 * Absensi — shared browser helpers used by every page: the JSON API client
 * (CSRF, idempotent retries, Indonesian error messages), formatting, toasts,
 * logout, and the attendance-row merge the live pages rely on.
 *
 * Plain script (no build step); everything hangs off window.Absensi.
 */
(function (global) {
  "use strict";

  const Absensi = (global.Absensi = global.Absensi || {});

  // ---------------------------------------------------------------- context
  // The layout embeds {user, node_id, branches, page} as a JSON script tag
  // (not executed, so it stays CSP-friendly and needs no inline script).
  const ctxEl = document.getElementById("absensi-context");
  Absensi.context = ctxEl ? JSON.parse(ctxEl.textContent || "{}") : {};

  Absensi.csrfToken = function () {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };

  const branchesByCode = {};
  (Absensi.context.branches || []).forEach((b) => (branchesByCode[b.code] = b));
  Absensi.branch = (code) => branchesByCode[code] || null;

  // ---------------------------------------------------------------- messages
  const ERROR_MESSAGES = {
    invalid_credentials: "Email atau kata sandi salah",
    unauthenticated: "Sesi Anda telah berakhir, silakan masuk lagi",
    forbidden: "Anda tidak memiliki akses untuk tindakan ini",
    not_found: "Data tidak ditemukan",
    already_checked_in: "Anda sudah absen masuk hari ini",
    not_checked_in: "Anda belum absen masuk hari ini",
    already_checked_out: "Anda sudah absen pulang hari ini",
    location_required: "Cabang Anda memakai geofence: izinkan akses lokasi di browser lalu coba lagi",
    location_inaccurate: "Lokasi Anda kurang akurat. Nyalakan GPS atau pindah ke tempat terbuka, lalu coba lagi",
    outside_geofence: "Anda berada di luar area kantor",
    leave_overlaps: "Sudah ada pengajuan izin/cuti pada sebagian tanggal tersebut",
    not_pending: "Pengajuan ini sudah diputuskan atau dibatalkan",
    insufficient_balance: "Sisa cuti tidak mencukupi",
    holiday_exists: "Tanggal ini sudah menjadi hari libur",
    email_taken: "Email sudah terdaftar",
    invalid: "Data yang dikirim tidak valid, periksa kembali isian Anda",
    csrf_failed: "Sesi halaman kedaluwarsa, muat ulang halaman lalu coba lagi",
    bad_csrf_token: "Sesi halaman kedaluwarsa, muat ulang halaman lalu coba lagi",
    network: "Tidak dapat terhubung ke server. Periksa koneksi Anda lalu coba lagi.",
  };

  const FIELD_LABELS = {
    name: "Nama",
    email: "Email",
    password: "Kata sandi",
    role: "Peran",
    branch: "Cabang",
    active: "Status",
    note: "Catatan",
    from: "Tanggal awal",
    to: "Tanggal akhir",
    user_id: "Karyawan",
    status: "Status",
    page: "Halaman",
    per_page: "Jumlah per halaman",
    kind: "Jenis",
    date_from: "Tanggal mulai",
    date_to: "Tanggal selesai",
    reason: "Alasan",
    check_in_at: "Jam masuk",
    check_out_at: "Jam pulang",
    date: "Tanggal",
    month: "Bulan",
    shift_start: "Jam masuk shift",
    shift_end: "Jam pulang shift",
    grace_minutes: "Toleransi",
    work_days: "Hari kerja",
    geofence: "Geofence",
    "geofence.lat": "Lintang",
    "geofence.lon": "Bujur",
    "geofence.radius_m": "Radius",
    _body: "Isian",
  };

  // Field error codes the API may send in `fields`; free text is shown as is.
  const FIELD_CODES = {
    required: "{label} wajib diisi",
    missing: "{label} wajib diisi",
    blank: "{label} wajib diisi",
    invalid: "{label} tidak valid",
    too_short: "{label} terlalu pendek",
    too_long: "{label} terlalu panjang",
    taken: "{label} sudah terdaftar",
    email_taken: "Email sudah terdaftar",
    unknown_branch: "Cabang tidak dikenal",
    invalid_date: "{label} harus berupa tanggal (TTTT-BB-HH)",
    invalid_choice: "Pilihan {label} tidak valid",
  };

  function fieldMessage(field, value) {
    const label = FIELD_LABELS[field] || field;
    const text = Array.isArray(value) ? value[0] : value;
    if (typeof text !== "string" || !text) return label + " tidak valid";
    const template = FIELD_CODES[text];
    if (template) return template.replace("{label}", label);
    return text;
  }

  function errorMessage(err) {
    if (!err) return "Terjadi kesalahan";
    if (err.code === "too_many_attempts") {
      const wait = err.retryAfter != null ? err.retryAfter : 60;
      return "Terlalu banyak percobaan, coba lagi dalam " + wait + " detik";
    }
    if (ERROR_MESSAGES[err.code]) return ERROR_MESSAGES[err.code];
    if (err.status === 404) return ERROR_MESSAGES.not_found;
    if (err.status === 403) return ERROR_MESSAGES.forbidden;
    if (err.status >= 500) return "Server sedang bermasalah (HTTP " + err.status + "), coba lagi sebentar lagi";
    return "Terjadi kesalahan (HTTP " + err.status + ")";
  }

  Absensi.messages = { error: errorMessage, field: fieldMessage, fieldLabels: FIELD_LABELS };

  // ---------------------------------------------------------------- API client
  class ApiError extends Error {
    constructor(status, body, response) {
      super((body && body.message) || "HTTP " + status);
      this.status = status;
      this.body = body || {};
      this.code = status === 0 ? "network" : this.body.error || null;
      this.fields = this.body.fields || {};
      const after = response ? parseInt(response.headers.get("Retry-After"), 10) : NaN;
      this.retryAfter = Number.isFinite(after) ? after : null;
    }
    get userMessage() {
      return errorMessage(this);
    }
  }
  Absensi.ApiError = ApiError;

  // Gateway errors from nginx while a node restarts, and the app's own 503 while the
  // database or Redis is briefly down, are worth trying again (same Idempotency-Key).
  const RETRY_STATUSES = new Set([502, 503, 504]);
  // An outage of up to ~10 s must not reach the employee: keep trying for this long.
  const RETRY_FOR_MS = 30000;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  function retryDelay(attempt, response) {
    const after = response ? parseInt(response.headers.get("Retry-After"), 10) : NaN;
    const backoff = Math.min(400 * 2 ** attempt, 4000) + Math.random() * 200;
    return Number.isFinite(after) ? Math.max(after * 1000, backoff) : backoff;
  }

  function sessionExpired() {
    const next = location.pathname + location.search;
    location.assign("/login?next=" + encodeURIComponent(next));
  }
  Absensi.sessionExpired = sessionExpired;

  /**
   * request(method, url, options) -> parsed JSON (or null for 204).
   * options: body (JSON-encoded), headers, idempotencyKey, retries,
   * authRedirect (default true: a 401 sends the browser to /login).
   * Throws ApiError; status 0 means the network failed.
   * Only idempotent calls (GET, or POST with an Idempotency-Key) are retried, for up
   * to retryForMs (30 s) honouring Retry-After, and a retry reuses the same key so the
   * server can replay its first answer.
   */
  async function request(method, url, options) {
    const opts = options || {};
    const headers = Object.assign({ Accept: "application/json" }, opts.headers || {});
    if (method !== "GET" && method !== "HEAD") headers["X-CSRF-Token"] = Absensi.csrfToken();
    if (opts.idempotencyKey) headers["Idempotency-Key"] = opts.idempotencyKey;
    let body;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    const safe = method === "GET" || !!opts.idempotencyKey;
    const deadline = Date.now() + (safe ? (opts.retryForMs != null ? opts.retryForMs : RETRY_FOR_MS) : 0);
    const mayRetry = (delay) => Date.now() + delay < deadline;

    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await fetch(url, { method, headers, body, credentials: "same-origin" });
      } catch (networkError) {
        const delay = retryDelay(attempt, null);
        if (mayRetry(delay)) {
          await sleep(delay);
          continue;
        }
        throw new ApiError(0, { error: "network" }, null);
      }
      if (RETRY_STATUSES.has(response.status)) {
        const delay = retryDelay(attempt, response);
        if (mayRetry(delay)) {
          await sleep(delay);
          continue;
        }
      }
      let data = null;
      if (response.status !== 204) {
        const text = await response.text();
        try {
          data = text ? JSON.parse(text) : null;
        } catch (parseError) {
          data = null;
        }
      }
      if (response.ok) return data;
      const err = new ApiError(response.status, data, response);
      if (response.status === 401 && opts.authRedirect !== false) sessionExpired();
      throw err;
    }
  }

  Absensi.api = {
    request,
    get: (url, opts) => request("GET", url, opts),
    post: (url, body, opts) => request("POST", url, Object.assign({ body: body === undefined ? {} : body }, opts)),
    patch: (url, body, opts) => request("PATCH", url, Object.assign({ body }, opts)),
    put: (url, body, opts) => request("PUT", url, Object.assign({ body }, opts)),
    delete: (url, opts) => request("DELETE", url, opts),
  };

  /** "Label: message" for each field of a 422, or the error's own message. */
  Absensi.fieldErrors = function (err) {
    const fields = Object.keys((err && err.fields) || {});
    if (!fields.length) return err.body && err.body.message ? err.body.message : err.userMessage;
    return fields.map((f) => (FIELD_LABELS[f] || f) + ": " + fieldMessage(f, err.fields[f])).join(" ");
  };

  /** Build "path?k=v" from an object, leaving out empty values. */
  Absensi.url = function (path, params) {
    const q = new URLSearchParams();
    Object.keys(params || {}).forEach((k) => {
      const v = params[k];
      if (v !== undefined && v !== null && v !== "") q.append(k, v);
    });
    const s = q.toString();
    return s ? path + "?" + s : path;
  };

  /** RFC 4122 v4. crypto.randomUUID only exists on HTTPS/localhost, so fall back. */
  Absensi.uuid = function () {
    if (global.crypto && typeof global.crypto.randomUUID === "function") return global.crypto.randomUUID();
    const b = global.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  };

  // ---------------------------------------------------------------- formatting
  const STATUS_LABELS = { present: "Tepat waktu", late: "Terlambat" };
  // Indonesia's three zones by UTC offset (the API sends the branch's own offset)
  const ZONE_NAMES = { "+07:00": "WIB", "+08:00": "WITA", "+09:00": "WIT" };
  // ... and by the branch's IANA zone (webapp/pages/views.py ZONE_NAMES says the same)
  const IANA_ZONE_NAMES = {
    "Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT",
  };
  const ROLE_LABELS = { admin: "Admin", employee: "Karyawan" };
  const LEAVE_KIND_LABELS = { izin: "Izin", sakit: "Sakit", cuti: "Cuti" };
  const LEAVE_STATUS_LABELS = {
    pending: "Menunggu", approved: "Disetujui", rejected: "Ditolak", cancelled: "Dibatalkan",
  };
  const WEEKDAY_LABELS = { 1: "Sen", 2: "Sel", 3: "Rab", 4: "Kam", 5: "Jum", 6: "Sab", 7: "Min" };

  const dateFormat = new Intl.DateTimeFormat("id-ID", {
    weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC",
  });
  const longDateFormat = new Intl.DateTimeFormat("id-ID", {
    weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC",
  });

  function ymdToDate(ymd) {
    const [y, m, d] = String(ymd).split("-").map(Number);
    return new Date(Date.UTC(y, m - 1, d));
  }

  Absensi.fmt = {
    // Timestamps carry the branch's own UTC offset, so the wall-clock part of
    // the ISO string already is the branch-local time: no conversion needed.
    // One format everywhere: "08:05 WIB" (rows mix Java and Bali, so the zone is shown).
    time(iso) {
      if (!iso) return "–";
      const m = /T(\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/.exec(iso);
      if (!m) return "–";
      return m[1] + ":" + m[2] + " " + Absensi.fmt.zone(m[3]);
    },
    zone(offset) {
      return ZONE_NAMES[offset] || (offset && offset !== "Z" ? "UTC" + offset : "UTC");
    },
    /** "WIB" for "Asia/Jakarta", "WITA" for "Asia/Makassar", "WIT" for "Asia/Jayapura". */
    zoneName(timeZone) {
      return IANA_ZONE_NAMES[timeZone] || timeZone || "";
    },
    /** The time now on a branch's clock with its zone: "08:05 WITA" (seconds on request). */
    nowIn(timeZone, options) {
      const withSeconds = options && options.seconds;
      let text;
      try {
        text = new Intl.DateTimeFormat("en-GB", {
          timeZone: timeZone || undefined, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
          second: withSeconds ? "2-digit" : undefined,
        }).format(new Date());
      } catch (e) {
        return new Date().toTimeString().slice(0, withSeconds ? 8 : 5);
      }
      return text + " " + Absensi.fmt.zoneName(timeZone);
    },
    date(ymd) {
      return ymd ? dateFormat.format(ymdToDate(ymd)) : "–";
    },
    longDate(ymd) {
      return ymd ? longDateFormat.format(ymdToDate(ymd)) : "–";
    },
    dateTime(iso) {
      if (!iso) return "–";
      return Absensi.fmt.date(iso.slice(0, 10)) + " " + Absensi.fmt.time(iso);
    },
    duration(minutes) {
      if (minutes === null || minutes === undefined) return "–";
      const h = Math.floor(minutes / 60);
      const m = minutes % 60;
      if (!h) return m + " menit";
      return m ? h + " jam " + m + " menit" : h + " jam";
    },
    status: (s) => STATUS_LABELS[s] || s || "–",
    leaveKind: (k) => LEAVE_KIND_LABELS[k] || k || "–",
    leaveStatus: (s) => LEAVE_STATUS_LABELS[s] || s || "–",
    weekday: (n) => WEEKDAY_LABELS[n] || String(n),
    distance: (m) => (m === null || m === undefined ? "–" : Number(m).toLocaleString("id-ID") + " m"),
    role: (r) => ROLE_LABELS[r] || r,
    branchName(code) {
      const b = Absensi.branch(code);
      return b ? b.name : code || "–";
    },
    relative(iso, now) {
      if (!iso) return "–";
      const seconds = Math.round(((now || Date.now()) - Date.parse(iso)) / 1000);
      if (!Number.isFinite(seconds)) return iso;
      if (seconds < 5) return "baru saja";
      if (seconds < 60) return seconds + " detik lalu";
      if (seconds < 3600) return Math.floor(seconds / 60) + " menit lalu";
      if (seconds < 86400) return Math.floor(seconds / 3600) + " jam lalu";
      return Math.floor(seconds / 86400) + " hari lalu";
    },
    number: (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("id-ID")),
  };

  /** Today's date (YYYY-MM-DD) in an IANA timezone, e.g. a branch's. */
  Absensi.todayIn = function (timeZone) {
    try {
      return new Intl.DateTimeFormat("en-CA", {
        timeZone: timeZone || undefined, year: "numeric", month: "2-digit", day: "2-digit",
      }).format(new Date());
    } catch (e) {
      return new Intl.DateTimeFormat("en-CA").format(new Date());
    }
  };

  /** Today's work date of a branch (attendance days are branch-local). */
  Absensi.branchToday = function (code) {
    const b = Absensi.branch(code);
    return Absensi.todayIn(b ? b.timezone : undefined);
  };

  /** Page count helper shared by the paginated tables. */
  Absensi.pageCount = (total, perPage) => Math.max(1, Math.ceil((total || 0) / (perPage || 1)));

  /**
   * Pagination methods for an Alpine component with `page`, `perPage` and `total`;
   * `load` names the component's method that fetches the current page.
   */
  Absensi.pager = (load) => ({
    pages() {
      return Absensi.pageCount(this.total, this.perPage);
    },
    goTo(n) {
      if (n < 1 || n > this.pages()) return;
      this.page = n;
      this[load]();
    },
  });

  /**
   * An admin inbox of requests that wait for a decision (leave, attendance requests):
   * the list filtered by status and branch, live from `channel` (new requests on top,
   * decided ones updated in place), approve / reject with an optional note.
   * `path` is the API collection, `created` the event that announces a new request,
   * `announce(item)` its toast, `statusLabel(status)` a decision's word, `errorKey` the
   * field of a 409 answer that carries the current copy.
   */
  Absensi.inbox = ({ channel, path, created, announce, statusLabel, errorKey }) => ({
    me: Absensi.context.user,
    filters: { status: "pending", branch: "" },
    rows: [],
    page: 1,
    perPage: 20,
    total: 0,
    loading: true,
    error: "",
    note: "",
    busyId: null,
    flash: {},
    seq: 0,
    events: new Absensi.EventLog(),

    init() {
      Absensi.realtime.subscribe(channel, (item, frame) => this.onEvent(item, frame), {
        onReload: () => this.load(),
      });
      this.load();
    },

    ...Absensi.pager("load"),

    matches(item) {
      return (!this.filters.status || item.status === this.filters.status) &&
        (!this.filters.branch || item.branch === this.filters.branch);
    },

    async load() {
      const seq = ++this.seq;
      const started = Date.now();
      this.loading = true;
      try {
        const res = await Absensi.api.get(Absensi.url(path, Object.assign(
          { page: this.page, per_page: this.perPage }, this.filters)));
        if (seq !== this.seq) return;
        this.rows = res.data || [];
        this.total = res.total || 0;
        this.error = "";
        this.events.since(started).forEach((item) => this.apply(item));
      } catch (err) {
        if (seq === this.seq) this.error = "Daftar pengajuan gagal dimuat: " + err.userMessage;
      } finally {
        if (seq === this.seq) this.loading = false;
      }
    },

    /** A decided request stays visible (with its new status) until the next reload. */
    apply(item) {
      const i = this.rows.findIndex((r) => r.id === item.id);
      if (i >= 0) {
        const copy = this.rows.slice();
        copy[i] = item;
        this.rows = copy;
        return true;
      }
      if (!this.matches(item) || this.page !== 1) return false;
      this.rows = [item].concat(this.rows).slice(0, this.perPage);
      this.total += 1;
      return true;
    },

    onEvent(item, frame) {
      this.events.add(item);
      if (this.apply(item)) Absensi.attendance.highlight(this, item.id);
      if (frame.event === created) Absensi.toast(announce(item), { kind: "info" });
    },

    async decide(item, action) {
      this.busyId = item.id;
      const note = this.note.trim();
      // the clicked button goes away with the decision: focus then moves to the row's new
      // status, not to the top of the page
      const row = document.activeElement ? document.activeElement.closest("tr") : null;
      try {
        const updated = await Absensi.api.post(path + "/" + item.id + "/" + action, note ? { note } : {});
        this.apply(updated);
        if (row) this.$nextTick(() => row.isConnected && Absensi.focusResult(row.querySelector(".badge") || row));
        this.note = "";
        Absensi.toast("Pengajuan " + updated.user.name + " " + statusLabel(updated.status).toLowerCase(),
                      { kind: updated.status === "approved" ? "success" : "info" });
      } catch (err) {
        Absensi.toast(err.body && err.body.message ? err.body.message : err.userMessage, { kind: "error" });
        if (err.body && err.body[errorKey]) this.apply(err.body[errorKey]);
      } finally {
        this.busyId = null;
      }
    },
  });

  // ---------------------------------------------------------------- attendance rows
  // An attendance only moves forward (checked in -> checked out), so whichever
  // copy has a check-out is the newer one. That makes merging HTTP snapshots
  // with websocket events independent of their arrival order.
  // An admin correction may move it back (clear the check-out): a corrected copy wins.
  function newer(current, incoming) {
    if (current && current.check_out_at && !incoming.check_out_at && !incoming.corrected) return current;
    return incoming;
  }

  Absensi.attendance = {
    newer,
    /**
     * Upsert `att` into `rows` (by id). Returns {rows, inserted}; new rows go
     * on top unless insertNew is false.
     */
    upsert(rows, att, insertNew) {
      const i = rows.findIndex((r) => r.id === att.id);
      if (i >= 0) {
        const copy = rows.slice();
        copy[i] = newer(rows[i], att);
        return { rows: copy, inserted: false };
      }
      if (insertNew === false) return { rows, inserted: false };
      return { rows: [att].concat(rows), inserted: true };
    },
    /**
     * Mark row `id` as just changed on an Alpine component with a `flash` map
     * (the row's class binding reads it) for 2.5 s.
     */
    highlight(component, id) {
      component.flash = Object.assign({}, component.flash, { [id]: true });
      setTimeout(() => {
        const copy = Object.assign({}, component.flash);
        delete copy[id];
        component.flash = copy;
      }, 2500);
    },
    /** Sort newest check-in first (offsets differ per branch, so compare instants); the
     * same second goes by id, newest first, as the server orders its pages. */
    sortByCheckIn(rows) {
      return rows.slice().sort((a, b) => Date.parse(b.check_in_at) - Date.parse(a.check_in_at) || b.id - a.id);
    },
  };

  /**
   * Remembers recent live events so a page can re-apply the ones that arrived
   * while an HTTP reload was in flight (the snapshot may predate them).
   */
  Absensi.EventLog = class {
    constructor(limit) {
      this.limit = limit || 200;
      this.items = [];
    }
    add(item) {
      this.items.push({ at: Date.now(), item });
      if (this.items.length > this.limit) this.items.shift();
    }
    since(t) {
      return this.items.filter((e) => e.at >= t).map((e) => e.item);
    }
  };

  /**
   * Live branch summaries (the `summaries` channel). A page holds each branch's
   * counts and the version they came with, per branch and day (a new day's
   * counter starts again from 1); a pushed summary older than the held one is
   * ignored, so an old push arriving late never undoes a newer HTTP load.
   */
  Absensi.summaries = {
    key: (code, workDate) => code + "|" + workDate,

    /** The *keys* of a Summary, missing ones as 0. */
    counts(summary, keys) {
      const out = {};
      keys.forEach((k) => (out[k] = summary ? summary[k] || 0 : 0));
      return out;
    },

    /** The version an HTTP today answer carries for branch *code*. */
    loaded(answer, code) {
      return (answer.summary_versions || {})[code] || 0;
    },

    /** `{versions, counts}` with pushed *data* applied, or null if it is not today's
     *  or older than what is held. */
    apply(held, data, keys) {
      if (!data || !data.summary || !Absensi.branch(data.branch)) return null;
      if (data.work_date !== Absensi.branchToday(data.branch)) return null;
      const key = Absensi.summaries.key(data.branch, data.work_date);
      if ((data.version || 0) < (held.versions[key] || 0)) return null;
      return {
        versions: Object.assign({}, held.versions, { [key]: data.version || 0 }),
        counts: Object.assign({}, held.counts, {
          [data.branch]: Absensi.summaries.counts(data.summary, keys),
        }),
      };
    },
  };

  // ---------------------------------------------------------------- toasts
  Absensi.toast = function (message, options) {
    const opts = options || {};
    const box = document.getElementById("toasts");
    if (!box) return;
    const el = document.createElement("div");
    el.className = "toast toast-" + (opts.kind || "info");
    el.setAttribute("role", opts.kind === "error" ? "alert" : "status");
    el.textContent = message;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Tutup");
    close.textContent = "×";
    close.addEventListener("click", () => el.remove());
    el.appendChild(close);
    box.appendChild(el);
    while (box.children.length > 5) box.firstElementChild.remove();
    setTimeout(() => {
      el.classList.add("toast-leaving");
      setTimeout(() => el.remove(), 300);
    }, opts.timeout || 5000);
  };

  // ---------------------------------------------------------------- session keep-alive
  // The session slides with every request, and a page left open all day makes none of
  // its own (live updates ride the websocket): ping while a signed-in page is open, and
  // when it comes back into view. The server's absolute lifetime still applies.
  const KEEPALIVE_MS = 10 * 60 * 1000;
  Absensi.keepSessionAlive = function () {
    const ping = () => Absensi.api.get("/api/me", { retryForMs: 0 }).catch(() => {});
    setInterval(ping, KEEPALIVE_MS);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") ping();
    });
  };
  if (Absensi.context.user) Absensi.keepSessionAlive();

  // ---------------------------------------------------------------- tabs
  // Every [role=tablist] is a WAI-ARIA tablist: the arrow keys, Home and End move to a
  // tab and select it; only the selected tab is in the Tab order (roving tabindex), so
  // Tab goes from the tabs to the panel.
  function syncTabindex(list) {
    list.querySelectorAll('[role="tab"]').forEach((tab) => {
      tab.tabIndex = tab.getAttribute("aria-selected") === "true" ? 0 : -1;
    });
  }
  document.addEventListener("keydown", (event) => {
    const tab = event.target.closest ? event.target.closest('[role="tab"]') : null;
    const list = tab && tab.closest('[role="tablist"]');
    if (!list || event.altKey || event.ctrlKey || event.metaKey) return;
    const tabs = Array.from(list.querySelectorAll('[role="tab"]')).filter((t) => !t.disabled);
    const i = tabs.indexOf(tab);
    const target = { ArrowRight: tabs[(i + 1) % tabs.length], ArrowLeft: tabs[(i - 1 + tabs.length) % tabs.length],
                     Home: tabs[0], End: tabs[tabs.length - 1] }[event.key];
    if (!target) return;
    event.preventDefault();
    target.click();
    target.focus();
  });
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll('[role="tablist"]').forEach((list) => {
      syncTabindex(list);
      // the page's component sets aria-selected: follow it
      new MutationObserver(() => syncTabindex(list)).observe(list, {
        subtree: true, attributes: true, attributeFilter: ["aria-selected"],
      });
    });
  });

  // ---------------------------------------------------------------- focus
  /** Move focus to ``el`` (made focusable by script only) so a screen reader reads it. */
  Absensi.focusResult = function (el) {
    if (!el) return;
    // a control keeps its own place in the Tab order; a status or region gets tabindex=-1
    if (el.tabIndex < 0 && !el.hasAttribute("tabindex")) el.setAttribute("tabindex", "-1");
    el.focus({ preventScroll: false });
  };

  // A closed dialog gives focus back to what opened it (the last focused control outside
  // any dialog), or to the main content when that control is gone (a re-drawn row).
  let lastOutsideDialog = null;
  document.addEventListener("focusin", (event) => {
    if (!event.target.closest("dialog")) lastOutsideDialog = event.target;
  });
  document.addEventListener("close", (event) => {
    if (!(event.target instanceof HTMLDialogElement)) return;
    setTimeout(() => {
      const active = document.activeElement;
      if (active && active !== document.body && !event.target.contains(active)) return;
      const opener = lastOutsideDialog && lastOutsideDialog.isConnected ? lastOutsideDialog : null;
      Absensi.focusResult(opener || document.getElementById("main"));
    }, 0);
  }, true);

  // ---------------------------------------------------------------- logout
  async function logout(button) {
    if (button) button.disabled = true;
    if (Absensi.realtime) Absensi.realtime.disconnect();
    try {
      await Absensi.api.post("/api/logout", undefined, { authRedirect: false });
    } catch (err) {
      // A 401 means the session is already gone, which is what we wanted.
      if (err.status !== 401) {
        Absensi.toast(err.userMessage, { kind: "error" });
        if (button) button.disabled = false;
        return;
      }
    }
    location.assign("/login");
  }
  Absensi.logout = logout;

  document.addEventListener("click", (event) => {
    const button = event.target.closest('[data-action="logout"]');
    if (button) {
      event.preventDefault();
      logout(button);
    }
  });
})(window);
