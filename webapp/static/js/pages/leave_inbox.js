/*
 * Admin leave inbox (/admin/izin): GET /api/leave filtered by status and
 * branch; approve / reject (POST /api/leave/{id}/approve|reject). Live: the
 * `leave` channel inserts new requests on top and updates decided ones.
 */
document.addEventListener("alpine:init", () => {
  const STATUS_CLASSES = {
    pending: "badge-info", approved: "badge-success", rejected: "badge-danger", cancelled: "badge-neutral",
  };

  Alpine.data("leaveInbox", () => ({
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
      Absensi.realtime.subscribe("leave", (leave, frame) => this.onEvent(leave, frame), {
        onReload: () => this.load(),
      });
      this.load();
    },

    statusClass: (status) => STATUS_CLASSES[status] || "badge-neutral",

    ...Absensi.pager("load"),

    matches(leave) {
      return (!this.filters.status || leave.status === this.filters.status) &&
        (!this.filters.branch || leave.branch === this.filters.branch);
    },

    async load() {
      const seq = ++this.seq;
      const started = Date.now();
      this.loading = true;
      try {
        const res = await Absensi.api.get(Absensi.url("/api/leave", Object.assign(
          { page: this.page, per_page: this.perPage }, this.filters)));
        if (seq !== this.seq) return;
        this.rows = res.data || [];
        this.total = res.total || 0;
        this.error = "";
        this.events.since(started).forEach((leave) => this.apply(leave));
      } catch (err) {
        if (seq === this.seq) this.error = "Daftar pengajuan gagal dimuat: " + err.userMessage;
      } finally {
        if (seq === this.seq) this.loading = false;
      }
    },

    /** A decided request stays visible (with its new status) until the next reload. */
    apply(leave) {
      const i = this.rows.findIndex((r) => r.id === leave.id);
      if (i >= 0) {
        const copy = this.rows.slice();
        copy[i] = leave;
        this.rows = copy;
        return true;
      }
      if (!this.matches(leave) || this.page !== 1) return false;
      this.rows = [leave].concat(this.rows).slice(0, this.perPage);
      this.total += 1;
      return true;
    },

    onEvent(leave, frame) {
      this.events.add(leave);
      if (this.apply(leave)) Absensi.attendance.highlight(this, leave.id);
      if (frame.event === "leave.created") {
        Absensi.toast(leave.user.name + " mengajukan " + Absensi.fmt.leaveKind(leave.kind).toLowerCase() +
                      " (" + leave.days + " hari)", { kind: "info" });
      }
    },

    async decide(leave, action) {
      this.busyId = leave.id;
      const note = this.note.trim();
      try {
        const updated = await Absensi.api.post("/api/leave/" + leave.id + "/" + action, note ? { note } : {});
        this.apply(updated);
        this.note = "";
        Absensi.toast("Pengajuan " + updated.user.name + " " + Absensi.fmt.leaveStatus(updated.status).toLowerCase(),
                      { kind: updated.status === "approved" ? "success" : "info" });
      } catch (err) {
        Absensi.toast(err.body && err.body.message ? err.body.message : err.userMessage, { kind: "error" });
        if (err.body && err.body.leave) this.apply(err.body.leave);
      } finally {
        this.busyId = null;
      }
    },
  }));
});
