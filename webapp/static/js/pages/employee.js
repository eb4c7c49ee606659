/*
 * Employee page (/absen): today's status, check-in/check-out, own history.
 * Live: subscribes to user.{id}, so a check-in made on another device or
 * node shows up here too.
 */
document.addEventListener("alpine:init", () => {
  Alpine.data("employeePage", () => ({
    user: Absensi.context.user,
    todayDate: "",
    today: null,
    loading: true,
    loadFailed: false,
    busy: null,
    note: "",
    error: "",
    history: [],
    page: 1,
    perPage: 10,
    total: 0,
    historyLoading: true,
    historyError: "",
    seq: 0,
    events: new Absensi.EventLog(),

    get timezone() {
      return this.user && this.user.branch ? this.user.branch.timezone : undefined;
    },

    get todayState() {
      if (this.today) return this.today.check_out_at ? "out" : "in";
      if (this.loading) return "loading";
      return this.loadFailed ? "error" : "none";
    },

    init() {
      this.todayDate = Absensi.todayIn(this.timezone);
      Absensi.realtime.subscribe("user." + this.user.id, (att) => this.onEvent(att), {
        onReload: () => this.reload(),
      });
      this.reload();
      // Midnight in the branch's timezone starts a new attendance day.
      setInterval(() => {
        const date = Absensi.todayIn(this.timezone);
        if (date !== this.todayDate) {
          this.todayDate = date;
          this.today = null;
          this.reload();
        }
      }, 30000);
    },

    ...Absensi.pager("reload"),

    /** Today's record comes from page 1; the table shows the current page. */
    async reload() {
      const seq = ++this.seq;
      const started = Date.now();
      this.historyLoading = true;
      try {
        const url = (page) => Absensi.url("/api/me/attendances", { page, per_page: this.perPage });
        const first = await Absensi.api.get(url(1));
        const current = this.page === 1 ? first : await Absensi.api.get(url(this.page));
        if (seq !== this.seq) return;
        const todays = (first.data || []).find((a) => a.work_date === this.todayDate) || null;
        if (todays) this.today = Absensi.attendance.newer(this.today && this.today.id === todays.id ? this.today : null, todays);
        this.history = current.data || [];
        this.total = current.total || 0;
        this.loadFailed = false;
        this.historyError = "";
        // Events that arrived while the request was in flight may be newer than the snapshot.
        this.events.since(started).forEach((a) => this.apply(a));
      } catch (err) {
        if (seq !== this.seq) return;
        this.loadFailed = true;
        this.historyError = err.userMessage;
      } finally {
        if (seq === this.seq) {
          this.loading = false;
          this.historyLoading = false;
        }
      }
    },

    onEvent(att) {
      this.events.add(att);
      this.apply(att);
    },

    apply(att) {
      if (att.work_date === this.todayDate && (!this.today || this.today.id === att.id)) {
        this.today = Absensi.attendance.newer(this.today, att);
      }
      const result = Absensi.attendance.upsert(this.history, att, this.page === 1);
      this.history = result.inserted ? result.rows.slice(0, this.perPage) : result.rows;
      if (result.inserted) this.total += 1;
    },

    async act(kind) {
      if (this.busy) return;
      this.busy = kind;
      this.error = "";
      const note = this.note.trim();
      try {
        // One key per click; Absensi.api reuses it on network retries so a
        // retried check-in can never count twice.
        const res = await Absensi.api.post("/api/attendance/" + kind, note ? { note } : {}, {
          idempotencyKey: Absensi.uuid(),
          retries: 3,
        });
        const att = res.attendance;
        if (kind === "check-in") this.todayDate = att.work_date;
        this.apply(att);
        this.note = "";
        Absensi.toast(
          kind === "check-in"
            ? "Absen masuk tercatat pukul " + Absensi.fmt.time(att.check_in_at) + " (" + Absensi.fmt.status(att.status) + ")"
            : "Absen pulang tercatat pukul " + Absensi.fmt.time(att.check_out_at),
          { kind: "success" },
        );
      } catch (err) {
        this.error = err.userMessage;
        if (err.body && err.body.attendance) this.apply(err.body.attendance);
        else if (err.status === 409) this.reload();
      } finally {
        this.busy = null;
      }
    },
  }));
});
