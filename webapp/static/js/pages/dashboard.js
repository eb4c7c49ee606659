/*
 * Admin dashboard (/admin): today's Summary per branch (GET
 * /api/attendances/today?branch=CODE for each branch; the total is their sum),
 * who has not checked in, and the latest check-ins.
 *
 * Loaded over HTTP once (and again only when the page cannot know it is up to
 * date: "recovered": false, a reconnect before any offset, the "Perbarui"
 * button). After that nothing is fetched per event:
 * - rows come from the `attendances` channel (and a toast each);
 * - counts come from the `summaries` channel: the server recomputes a branch's
 *   Summary after each published batch and pushes it with a version; a pushed
 *   summary replaces the held one only if its version is at least the held
 *   one's (the HTTP answer carries `summary_versions`), so an older push that
 *   arrives late never undoes a newer state.
 */
document.addEventListener("alpine:init", () => {
  const LIMIT = 50;
  const COUNT_KEYS = ["employees", "checked_in", "late", "checked_out", "not_checked_in", "on_leave"];
  // Both channels confirm their subscription at nearly the same moment: one reload for both.
  const RELOAD_COALESCE_MS = 50;

  // "Bali (Denpasar)" -> "Bali": toasts name the city.
  const city = (code) => Absensi.fmt.branchName(code).replace(/\s*\(.*\)\s*$/, "");

  Alpine.data("dashboardPage", () => ({
    branches: Absensi.context.branches || [],
    summaries: {},
    versions: {},
    absent: {},
    checkedIn: {},
    rows: [],
    flash: {},
    loading: true,
    error: "",
    updatedAt: "",
    seq: 0,
    reloadTimer: null,
    events: new Absensi.EventLog(),
    pushed: new Absensi.EventLog(),

    init() {
      const onReload = () => this.reloadSoon();
      Absensi.realtime.subscribe("attendances", (att, frame) => this.onEvent(att, frame), { onReload });
      Absensi.realtime.subscribe("summaries", (data) => this.onSummary(data), { onReload });
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
      return this.branches.reduce((all, b) => all.concat(this.absent[b.code] || []), [])
        .filter((u) => !this.checkedIn[u.id]);
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

    reloadSoon() {
      if (this.reloadTimer) return;
      this.reloadTimer = setTimeout(() => {
        this.reloadTimer = null;
        this.load();
      }, RELOAD_COALESCE_MS);
    },

    async load() {
      const seq = ++this.seq;
      const started = Date.now();
      this.loading = true;
      try {
        const results = await Promise.all(
          this.branches.map((b) =>
            Absensi.api.get(Absensi.url("/api/attendances/today", { branch: b.code, per_page: LIMIT })),
          ),
        );
        if (seq !== this.seq) return;
        const summaries = {};
        const versions = {};
        const absent = {};
        let rows = [];
        results.forEach((res, i) => {
          const code = this.branches[i].code;
          summaries[code] = Absensi.summaries.counts(res.summary, COUNT_KEYS);
          versions[Absensi.summaries.key(code, Absensi.branchToday(code))] = Absensi.summaries.loaded(res, code);
          absent[code] = res.absent_users || [];
          rows = rows.concat(res.data || []);
        });
        this.summaries = summaries;
        this.versions = versions;
        this.absent = absent;
        this.checkedIn = {};
        this.rows = Absensi.attendance.sortByCheckIn(rows).slice(0, LIMIT);
        // What arrived while the requests were in flight may be newer than the answers.
        this.events.since(started).forEach((att) => this.applyRow(att));
        this.pushed.since(started).forEach((data) => this.applySummary(data));
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
      if (!this.checkedIn[att.user.id]) this.checkedIn = Object.assign({}, this.checkedIn, { [att.user.id]: true });
      const result = Absensi.attendance.upsert(this.rows, att);
      this.rows = result.inserted ? Absensi.attendance.sortByCheckIn(result.rows).slice(0, LIMIT) : result.rows;
      return true;
    },

    onEvent(att, frame) {
      this.events.add(att);
      if (this.applyRow(att)) this.highlight(att.id);
      const out = frame.event === "attendance.updated" && att.check_out_at;
      const node = (out ? att.check_out_node : att.check_in_node) || frame.node_id;
      Absensi.toast(
        att.user.name + (out ? " absen pulang di " : " absen masuk di ") + city(att.branch) + " (" + node + ")",
        { kind: out ? "info" : att.status === "late" ? "warning" : "success" },
      );
    },

    onSummary(data) {
      this.pushed.add(data);
      this.applySummary(data);
    },

    /** A pushed Summary of one branch's today (see Absensi.summaries). */
    applySummary(data) {
      const next = Absensi.summaries.apply({ versions: this.versions, counts: this.summaries }, data, COUNT_KEYS);
      if (!next) return false;
      this.versions = next.versions;
      this.summaries = next.counts;
      return true;
    },

    highlight(id) {
      Absensi.attendance.highlight(this, id);
    },
  }));

  // on the admin's branch clock, with its zone ("08:05 WITA"): admins work across zones
  function localTime() {
    const user = Absensi.context.user;
    return Absensi.fmt.nowIn(user && user.branch ? user.branch.timezone : undefined);
  }
});
