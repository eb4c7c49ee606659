/*
 * Admin history (/admin/riwayat). "Hari Ini": today's list per branch, live
 * from the `attendances` channel. "Riwayat": filtered, paginated history;
 * live events only raise the "Baru" badge (a filtered page cannot be patched
 * safely), and clicking it reloads.
 */
document.addEventListener("alpine:init", () => {
  const EMPTY_FILTERS = { from: "", to: "", branch: "", user_id: "", status: "" };
  const MAX_USER_PAGES = 50;

  Alpine.data("historyPage", () => ({
    tab: "today",
    branches: Absensi.context.branches || [],

    todayRows: [],
    todayBranch: "",
    todayLoading: true,
    todayError: "",
    todaySeq: 0,
    flash: {},
    events: new Absensi.EventLog(),

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

    init() {
      if (location.hash === "#riwayat") this.tab = "history";
      Absensi.realtime.subscribe("attendances", (att) => this.onEvent(att), {
        onReload: ({ initial }) => {
          this.loadToday();
          // After a gap the filtered history may be stale too: say so, don't yank the page.
          if (!initial && this.loadedOnce) this.newCount += 1;
        },
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
    async loadToday() {
      const seq = ++this.todaySeq;
      const started = Date.now();
      const codes = this.todayBranch ? [this.todayBranch] : this.branches.map((b) => b.code);
      this.todayLoading = true;
      try {
        const results = await Promise.all(
          codes.map((code) => Absensi.api.get(Absensi.url("/api/attendances/today", { branch: code }))),
        );
        if (seq !== this.todaySeq) return;
        const rows = results.reduce((all, res) => all.concat(res.data || []), []);
        this.todayRows = Absensi.attendance.sortByCheckIn(rows);
        this.events.since(started).forEach((att) => this.applyToday(att));
        this.todayError = "";
      } catch (err) {
        if (seq === this.todaySeq) this.todayError = "Daftar hari ini gagal dimuat: " + err.userMessage;
      } finally {
        if (seq === this.todaySeq) this.todayLoading = false;
      }
    },

    applyToday(att) {
      if (this.todayBranch && att.branch !== this.todayBranch) return false;
      if (att.work_date !== Absensi.branchToday(att.branch)) return false;
      const result = Absensi.attendance.upsert(this.todayRows, att);
      this.todayRows = result.inserted ? Absensi.attendance.sortByCheckIn(result.rows) : result.rows;
      return true;
    },

    onEvent(att) {
      this.events.add(att);
      if (this.applyToday(att)) this.highlight(att.id);
      if (this.loadedOnce) this.newCount += 1;
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
