/*
 * Admin inbox of attendance requests (/admin/koreksi): GET /api/attendance-requests
 * filtered by status and branch; approve / reject
 * (POST /api/attendance-requests/{id}/approve|reject). Live: the `requests` channel
 * inserts new requests on top and updates decided ones.
 */
document.addEventListener("alpine:init", () => {
  const STATUS_CLASSES = { pending: "badge-info", approved: "badge-success", rejected: "badge-danger" };
  const STATUS_LABELS = { pending: "Menunggu", approved: "Disetujui", rejected: "Ditolak" };
  const KINDS = { check_in: "Absen masuk", check_out: "Absen pulang", both: "Masuk & pulang" };

  Alpine.data("requestsInbox", () => ({
    STATUS_CLASSES, STATUS_LABELS, KINDS,
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
      Absensi.realtime.subscribe("requests", (request, frame) => this.onEvent(request, frame), {
        onReload: () => this.load(),
      });
      this.load();
    },

    ...Absensi.pager("load"),

    matches(request) {
      return (!this.filters.status || request.status === this.filters.status) &&
        (!this.filters.branch || request.branch === this.filters.branch);
    },

    async load() {
      const seq = ++this.seq;
      const started = Date.now();
      this.loading = true;
      try {
        const res = await Absensi.api.get(Absensi.url("/api/attendance-requests", Object.assign(
          { page: this.page, per_page: this.perPage }, this.filters)));
        if (seq !== this.seq) return;
        this.rows = res.data || [];
        this.total = res.total || 0;
        this.error = "";
        this.events.since(started).forEach((request) => this.apply(request));
      } catch (err) {
        if (seq === this.seq) this.error = "Daftar pengajuan gagal dimuat: " + err.userMessage;
      } finally {
        if (seq === this.seq) this.loading = false;
      }
    },

    /** A decided request stays visible (with its new status) until the next reload. */
    apply(request) {
      const i = this.rows.findIndex((r) => r.id === request.id);
      if (i >= 0) {
        const copy = this.rows.slice();
        copy[i] = request;
        this.rows = copy;
        return true;
      }
      if (!this.matches(request) || this.page !== 1) return false;
      this.rows = [request].concat(this.rows).slice(0, this.perPage);
      this.total += 1;
      return true;
    },

    onEvent(request, frame) {
      this.events.add(request);
      if (this.apply(request)) Absensi.attendance.highlight(this, request.id);
      if (frame.event === "request.created") {
        Absensi.toast(request.user.name + " mengajukan koreksi absensi " + Absensi.fmt.date(request.work_date),
                      { kind: "info" });
      }
    },

    async decide(request, action) {
      this.busyId = request.id;
      const note = this.note.trim();
      try {
        const updated = await Absensi.api.post("/api/attendance-requests/" + request.id + "/" + action, note ? { note } : {});
        this.apply(updated);
        this.note = "";
        Absensi.toast("Pengajuan " + updated.user.name + " " + STATUS_LABELS[updated.status].toLowerCase(),
                      { kind: updated.status === "approved" ? "success" : "info" });
      } catch (err) {
        Absensi.toast(err.body && err.body.message ? err.body.message : err.userMessage, { kind: "error" });
        if (err.body && err.body.request) this.apply(err.body.request);
      } finally {
        this.busyId = null;
      }
    },
  }));
});
