/*
 * Admin dashboard (/admin): today's Summary per branch (GET
 * /api/attendances/today?branch=CODE for each branch; the total is their sum)
 * and the latest check-ins. Live: the `attendances` channel updates rows,
 * refetches the touched branch's summary and shows a toast.
 */
document.addEventListener("alpine:init", () => {
  const LIMIT = 50;
  const COUNT_KEYS = ["employees", "checked_in", "late", "checked_out", "not_checked_in", "on_leave"];

  // "Bali (Denpasar)" -> "Bali": toasts name the city.
  const city = (code) => Absensi.fmt.branchName(code).replace(/\s*\(.*\)\s*$/, "");

  Alpine.data("dashboardPage", () => ({
    branches: Absensi.context.branches || [],
    summaries: {},
    absent: {},
    rows: [],
    flash: {},
    loading: true,
    error: "",
    updatedAt: "",
    seq: 0,
    branchSeq: {},
    refreshTimers: {},
    events: new Absensi.EventLog(),

    init() {
      Absensi.realtime.subscribe("attendances", (att, frame) => this.onEvent(att, frame), {
        onReload: () => this.load(),
      });
      this.load();
    },

    /** Summary value for a branch code, or the all-branches sum for "". */
    rawCount(code, key) {
      if (code) {
        const s = this.summaries[code];
        return s ? s[key] : null;
      }
      if (!this.branches.length || !this.branches.every((b) => this.summaries[b.code])) return null;
      return this.branches.reduce((sum, b) => sum + (this.summaries[b.code][key] || 0), 0);
    },

    /** Everyone not checked in yet, branch by branch; someone checking in leaves at once. */
    get absentUsers() {
      const present = new Set(this.rows.map((a) => a.user.id));
      return this.branches.reduce((all, b) => all.concat(this.absent[b.code] || []), [])
        .filter((u) => !present.has(u.id));
    },

    count(code, key) {
      return Absensi.fmt.number(this.rawCount(code, key));
    },

    percent(code) {
      const employees = this.rawCount(code, "employees");
      const present = this.rawCount(code, "checked_in");
      if (!employees || present === null) return 0;
      return Math.min(100, Math.round((100 * present) / employees));
    },

    async load() {
      const seq = ++this.seq;
      const started = Date.now();
      this.loading = true;
      try {
        const results = await Promise.all(
          this.branches.map((b) => Absensi.api.get(Absensi.url("/api/attendances/today", { branch: b.code }))),
        );
        if (seq !== this.seq) return;
        const summaries = {};
        const absent = {};
        let rows = [];
        results.forEach((res, i) => {
          summaries[this.branches[i].code] = pickCounts(res.summary);
          absent[this.branches[i].code] = res.absent_users || [];
          rows = rows.concat(res.data || []);
        });
        this.summaries = summaries;
        this.absent = absent;
        this.rows = Absensi.attendance.sortByCheckIn(rows).slice(0, LIMIT);
        this.events.since(started).forEach((att) => this.applyRow(att));
        this.error = "";
        this.updatedAt = localTime();
      } catch (err) {
        if (seq === this.seq) this.error = "Data dasbor gagal dimuat: " + err.userMessage;
      } finally {
        if (seq === this.seq) this.loading = false;
      }
    },

    applyRow(att) {
      // Only today's attendances (branch-local day) belong on this board.
      if (att.work_date !== Absensi.branchToday(att.branch)) return false;
      const result = Absensi.attendance.upsert(this.rows, att);
      this.rows = result.inserted ? Absensi.attendance.sortByCheckIn(result.rows).slice(0, LIMIT) : result.rows;
      return true;
    },

    onEvent(att, frame) {
      this.events.add(att);
      if (this.applyRow(att)) this.highlight(att.id);
      this.scheduleSummary(att.branch);
      const out = frame.event === "attendance.updated" && att.check_out_at;
      const node = (out ? att.check_out_node : att.check_in_node) || frame.node_id;
      Absensi.toast(
        att.user.name + (out ? " absen pulang di " : " absen masuk di ") + city(att.branch) + " (" + node + ")",
        { kind: out ? "info" : att.status === "late" ? "warning" : "success" },
      );
    },

    highlight(id) {
      Absensi.attendance.highlight(this, id);
    },

    // The server owns the Summary rules, so refetch the branch instead of
    // guessing. Throttled, not debounced: during a morning rush events never
    // pause, and the counts must still move (one request per branch per 250 ms).
    scheduleSummary(code) {
      if (!Absensi.branch(code) || this.refreshTimers[code]) return;
      this.refreshTimers[code] = setTimeout(() => {
        this.refreshTimers[code] = null;
        this.refreshBranch(code);
      }, 250);
    },

    async refreshBranch(code) {
      const seq = (this.branchSeq[code] = (this.branchSeq[code] || 0) + 1);
      try {
        const res = await Absensi.api.get(Absensi.url("/api/attendances/today", { branch: code }));
        if (seq !== this.branchSeq[code]) return;
        this.summaries = Object.assign({}, this.summaries, { [code]: pickCounts(res.summary) });
        this.absent = Object.assign({}, this.absent, { [code]: res.absent_users || [] });
        (res.data || []).forEach((att) => this.applyRow(att));
      } catch (err) {
        // The next event or a manual refresh will try again.
      }
    },
  }));

  function pickCounts(summary) {
    const out = {};
    COUNT_KEYS.forEach((k) => (out[k] = summary ? summary[k] || 0 : 0));
    return out;
  }

  function localTime() {
    return new Date().toLocaleTimeString("id-ID", { hour: "2-digit", minute: "2-digit" });
  }
});
