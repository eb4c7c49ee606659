/*
 * Admin history (/admin/riwayat). "Hari Ini": today's attendances (all
 * branches or one), a page at a time over HTTP, then live: rows from the
 * `attendances` channel, counts from the `summaries` channel (a pushed
 * Summary replaces the held one when its version is at least the held one's,
 * see dashboard.js); no request per event. "Riwayat": filtered, paginated history;
 * a live event updates a row already on the page (e.g. another admin's
 * correction) and otherwise raises the "Baru" badge (a filtered page cannot
 * take new rows safely); clicking it reloads. Rows open the correction dialog
 * ("Koreksi", always with a reason) and the audit trail ("Jejak").
 */
document.addEventListener("alpine:init", () => {
  const EMPTY_FILTERS = { from: "", to: "", branch: "", user_id: "", status: "" };
  const MAX_USER_PAGES = 50;
  const TODAY_PER_PAGE = 50;
  const TODAY_COUNT_KEYS = ["checked_in", "late", "checked_out"];
  // Both channels confirm their subscription at nearly the same moment: one reload for both.
  const RELOAD_COALESCE_MS = 50;
  const ACTIONS = {
    check_in: "Absen masuk", check_out: "Absen pulang", create: "Ditambahkan admin",
    correct: "Dikoreksi admin", auto_close: "Ditandai akhir hari",
  };
  const AUDIT_FIELDS = {
    check_in_at: "Masuk", check_out_at: "Pulang", status: "Status", early_leave: "Pulang awal",
    note: "Catatan", auto_closed: "Ditutup otomatis", overtime_minutes: "Menit lembur",
    overtime_status: "Status lembur",
  };

  /** "HH:MM" of an ISO instant with offset (its wall-clock part). */
  const clock = (iso) => (iso ? iso.slice(11, 16) : "");
  /** The ISO offset ("+07:00") of an IANA zone right now (WIB/WITA have no DST). */
  function zoneOffset(timeZone) {
    const name = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" })
      .formatToParts(new Date()).find((p) => p.type === "timeZoneName").value;
    const m = /GMT([+-]\d{2}):?(\d{2})?/.exec(name);
    return m ? m[1] + ":" + (m[2] || "00") : "+00:00";
  }

  Alpine.data("historyPage", () => ({
    tab: "today",
    branches: Absensi.context.branches || [],

    todayRows: [],
    todayBranch: "",
    todayPage: 1,
    todayPerPage: TODAY_PER_PAGE,
    todayCounts: {},
    todayVersions: {},
    todayLoading: true,
    todayError: "",
    todaySeq: 0,
    todayReloadTimer: null,
    flash: {},
    events: new Absensi.EventLog(),
    pushed: new Absensi.EventLog(),

    filters: Object.assign({}, EMPTY_FILTERS),
    applied: Object.assign({}, EMPTY_FILTERS),
    rows: [],
    page: 1,
    perPage: 20,
    total: 0,
    loading: false,
    loadedOnce: false,
    error: "",
    seq: 0,
    newCount: 0,
    employees: [],

    correcting: null,
    correctionError: "",
    savingCorrection: false,
    audit: [],
    auditFor: null,
    auditLoading: false,

    init() {
      if (location.hash === "#riwayat") this.tab = "history";
      Absensi.realtime.subscribe("attendances", (att) => this.onEvent(att), {
        onReload: ({ initial }) => {
          this.reloadTodaySoon();
          // After a gap the filtered history may be stale too: say so, don't yank the page.
          if (!initial && this.loadedOnce) this.newCount += 1;
        },
      });
      Absensi.realtime.subscribe("summaries", (data) => this.onSummary(data), {
        onReload: () => this.reloadTodaySoon(),
      });
      this.loadToday();
      if (this.tab === "history") this.loadHistory();
      this.loadEmployees();
      // A user chosen for another branch would make the filter match nothing.
      this.$watch("filters.branch", () => {
        if (this.filters.user_id && !this.employeeOptions.some((u) => String(u.id) === this.filters.user_id)) {
          this.filters.user_id = "";
        }
      });
    },

    show(tab) {
      this.tab = tab;
      history.replaceState(null, "", tab === "history" ? "#riwayat" : "#hari-ini");
      // Changes that happened while the tab was hidden are simply loaded.
      if (tab === "history" && (!this.loadedOnce || this.newCount > 0)) this.loadHistory();
    },

    // ------------------------------------------------------------ Hari Ini
    get todayCodes() {
      return this.todayBranch ? [this.todayBranch] : this.branches.map((b) => b.code);
    },

    /** checked_in / late / checked_out of the chosen branches, or null before the first load. */
    todayCount(key) {
      const codes = this.todayCodes;
      if (!codes.length || !codes.every((c) => this.todayCounts[c])) return null;
      return codes.reduce((sum, c) => sum + (this.todayCounts[c][key] || 0), 0);
    },

    get todayTotal() {
      return this.todayCount("checked_in") || 0;
    },

    todayPages() {
      return Absensi.pageCount(this.todayTotal, this.todayPerPage);
    },

    todayGoTo(n) {
      if (n < 1 || n > this.todayPages()) return;
      this.todayPage = n;
      this.loadToday();
    },

    chooseTodayBranch() {
      this.todayPage = 1;
      this.loadToday();
    },

    reloadTodaySoon() {
      if (this.todayReloadTimer) return;
      this.todayReloadTimer = setTimeout(() => {
        this.todayReloadTimer = null;
        this.loadToday();
      }, RELOAD_COALESCE_MS);
    },

    /** The chosen page of today over HTTP, with each chosen branch's counts and versions. */
    async loadToday() {
      const seq = ++this.todaySeq;
      const started = Date.now();
      const branch = this.todayBranch;
      const codes = this.todayCodes;
      const today = (params) => Absensi.api.get(Absensi.url("/api/attendances/today", params));
      this.todayLoading = true;
      try {
        const list = today({ branch, page: this.todayPage, per_page: this.todayPerPage });
        // All branches: each one's own Summary too, since live counts come per branch.
        const perBranch = branch ? [] : codes.map((code) => today({ branch: code, per_page: 1 }));
        const [res, ...each] = await Promise.all([list, ...perBranch]);
        if (seq !== this.todaySeq) return;
        const counts = {};
        const versions = {};
        (branch ? [res] : each).forEach((r, i) => {
          counts[codes[i]] = Absensi.summaries.counts(r.summary, TODAY_COUNT_KEYS);
          versions[Absensi.summaries.key(codes[i], Absensi.branchToday(codes[i]))] = Absensi.summaries.loaded(r, codes[i]);
        });
        this.todayCounts = Object.assign({}, this.todayCounts, counts);
        this.todayVersions = Object.assign({}, this.todayVersions, versions);
        this.todayRows = res.data || [];
        this.todayPerPage = res.per_page || this.todayPerPage;
        // What arrived while the requests were in flight may be newer than the answers.
        this.events.since(started).forEach((att) => this.applyToday(att));
        this.pushed.since(started).forEach((data) => this.applySummary(data));
        this.todayError = "";
      } catch (err) {
        if (seq === this.todaySeq) this.todayError = "Daftar hari ini gagal dimuat: " + err.userMessage;
      } finally {
        if (seq === this.todaySeq) this.todayLoading = false;
      }
    },

    /** Update a row of the page; a new one joins only the first page (newest first). */
    applyToday(att) {
      if (this.todayBranch && att.branch !== this.todayBranch) return false;
      if (att.work_date !== Absensi.branchToday(att.branch)) return false;
      const result = Absensi.attendance.upsert(this.todayRows, att, this.todayPage === 1);
      this.todayRows = result.inserted
        ? Absensi.attendance.sortByCheckIn(result.rows).slice(0, this.todayPerPage)
        : result.rows;
      return this.todayRows.some((r) => r.id === att.id);
    },

    onSummary(data) {
      this.pushed.add(data);
      this.applySummary(data);
    },

    /** A pushed Summary of one branch's today (see Absensi.summaries). */
    applySummary(data) {
      const held = { versions: this.todayVersions, counts: this.todayCounts };
      const next = Absensi.summaries.apply(held, data, TODAY_COUNT_KEYS);
      if (!next) return false;
      this.todayVersions = next.versions;
      this.todayCounts = next.counts;
      return true;
    },

    onEvent(att) {
      this.events.add(att);
      if (this.applyToday(att)) this.highlight(att.id);
      if (this.applyHistory(att)) this.highlight(att.id);
      else if (this.loadedOnce) this.newCount += 1;
    },

    /** Replace a row of the current history page in place; false when it is not there. */
    applyHistory(att) {
      const i = this.rows.findIndex((r) => r.id === att.id);
      if (i < 0) return false;
      const copy = this.rows.slice();
      copy[i] = Absensi.attendance.newer(this.rows[i], att);
      this.rows = copy;
      return true;
    },

    // ------------------------------------------------------------ corrections
    openCorrection(a) {
      this.correctionError = "";
      this.correcting = {
        id: a.id, name: a.user.name, branch: a.branch, work_date: a.work_date,
        offset: a.check_in_at.slice(19), check_in: clock(a.check_in_at),
        check_out: clock(a.check_out_at), note: a.note || "", reason: "",
        original: { check_in: clock(a.check_in_at), check_out: clock(a.check_out_at), note: a.note || "" },
      };
      this.$refs.correction.showModal();
    },

    openCreate() {
      this.correctionError = "";
      this.correcting = { id: null, user_id: "", work_date: "", check_in: "08:00", check_out: "17:00", reason: "" };
      this.$refs.correction.showModal();
    },

    correctionBody() {
      const c = this.correcting;
      if (c.id) {
        const at = (time) => c.work_date + "T" + time + ":00" + c.offset;
        const body = { reason: c.reason };
        if (c.check_in !== c.original.check_in) body.check_in_at = at(c.check_in);
        if (c.check_out !== c.original.check_out) body.check_out_at = c.check_out ? at(c.check_out) : null;
        if (c.note !== c.original.note) body.note = c.note;
        return body;
      }
      const user = this.employees.find((u) => String(u.id) === c.user_id);
      const offset = user ? zoneOffset(user.branch.timezone) : "+07:00";
      const at = (time) => c.work_date + "T" + time + ":00" + offset;
      const body = { user_id: Number(c.user_id), check_in_at: at(c.check_in), reason: c.reason };
      if (c.check_out) body.check_out_at = at(c.check_out);
      return body;
    },

    async saveCorrection() {
      const c = this.correcting;
      if (!c.reason.trim()) {
        this.correctionError = "Alasan koreksi wajib diisi.";
        return;
      }
      this.savingCorrection = true;
      this.correctionError = "";
      try {
        const res = c.id
          ? await Absensi.api.patch("/api/attendances/" + c.id, this.correctionBody())
          : await Absensi.api.post("/api/attendances", this.correctionBody(), { idempotencyKey: Absensi.uuid() });
        const att = res.attendance;
        this.applyHistory(att);
        this.applyToday(att);
        this.highlight(att.id);
        this.$refs.correction.close();
        Absensi.toast("Absensi " + att.user.name + " " + Absensi.fmt.date(att.work_date) + " disimpan", { kind: "success" });
      } catch (err) {
        this.correctionError = Absensi.fieldErrors(err);
      } finally {
        this.savingCorrection = false;
      }
    },

    // ------------------------------------------------------------ overtime
    OVERTIME: { pending: "menunggu", approved: "disetujui", rejected: "ditolak", none: "" },

    async decideOvertime(a, action) {
      // the pressed button goes with the decision: focus moves to the row's overtime status
      const row = document.activeElement ? document.activeElement.closest("tr") : null;
      try {
        const att = (await Absensi.api.post("/api/attendances/" + a.id + "/overtime/" + action, {})).attendance;
        this.applyHistory(att);
        this.applyToday(att);
        this.highlight(att.id);
        if (row) this.$nextTick(() => row.isConnected && Absensi.focusResult(row.querySelector(".cell-overtime") || row));
        Absensi.toast("Lembur " + att.user.name + " " + Absensi.fmt.date(att.work_date) + " " +
                      this.OVERTIME[att.overtime_status], { kind: "success" });
      } catch (err) {
        Absensi.toast(err.body && err.body.message ? err.body.message : err.userMessage, { kind: "error" });
      }
    },

    // ------------------------------------------------------------ audit trail
    async openAudit(a) {
      this.auditFor = a;
      this.audit = [];
      this.auditLoading = true;
      this.$refs.audit.showModal();
      try {
        this.audit = (await Absensi.api.get("/api/attendances/" + a.id + "/audit")).data || [];
      } catch (err) {
        Absensi.toast("Jejak audit gagal dimuat: " + err.userMessage, { kind: "error" });
      } finally {
        this.auditLoading = false;
      }
    },

    actionLabel: (action) => ACTIONS[action] || action,
    fieldLabel: (field) => AUDIT_FIELDS[field] || field,
    changeValue(field, value) {
      if (value === null || value === undefined || value === "") return "–";
      if (typeof value === "boolean") return value ? "ya" : "tidak";
      if (field === "status") return Absensi.fmt.status(value);
      if (field.endsWith("_at")) return Absensi.fmt.time(value);
      return String(value);
    },

    highlight(id) {
      Absensi.attendance.highlight(this, id);
    },

    // ------------------------------------------------------------ Riwayat
    get employeeOptions() {
      const branch = this.filters.branch;
      return branch ? this.employees.filter((u) => u.branch && u.branch.code === branch) : this.employees;
    },

    get exportUrl() {
      return Absensi.url("/api/attendances/export.csv", this.applied);
    },

    ...Absensi.pager("loadHistory"),

    applyFilters() {
      if (this.filters.from && this.filters.to && this.filters.from > this.filters.to) {
        this.error = "Tanggal awal tidak boleh setelah tanggal akhir";
        return;
      }
      this.applied = Object.assign({}, this.filters);
      this.page = 1;
      this.loadHistory();
    },

    resetFilters() {
      this.filters = Object.assign({}, EMPTY_FILTERS);
      this.applyFilters();
    },

    async loadHistory() {
      const seq = ++this.seq;
      this.loading = true;
      this.newCount = 0;
      try {
        const params = Object.assign({}, this.applied, { page: this.page, per_page: this.perPage });
        const res = await Absensi.api.get(Absensi.url("/api/attendances", params));
        if (seq !== this.seq) return;
        this.rows = res.data || [];
        this.total = res.total || 0;
        this.perPage = res.per_page || this.perPage;
        this.error = "";
        this.loadedOnce = true;
      } catch (err) {
        if (seq !== this.seq) return;
        const fields = Object.keys(err.fields || {});
        this.error = fields.length
          ? fields.map((f) => (Absensi.messages.fieldLabels[f] || f) + ": " + Absensi.messages.field(f, err.fields[f])).join(" ")
          : err.userMessage;
      } finally {
        if (seq === this.seq) this.loading = false;
      }
    },

    /** The employee filter lists every user (all pages of GET /api/users). */
    async loadEmployees() {
      const all = [];
      try {
        for (let page = 1; page <= MAX_USER_PAGES; page++) {
          const res = await Absensi.api.get(Absensi.url("/api/users", { per_page: 100, page }));
          const data = res.data || [];
          all.push(...data);
          if (!data.length || all.length >= (res.total || 0)) break;
        }
      } catch (err) {
        Absensi.toast("Daftar karyawan gagal dimuat: " + err.userMessage, { kind: "error" });
      }
      all.sort((a, b) => a.name.localeCompare(b.name, "id"));
      this.employees = all;
    },
  }));
});
