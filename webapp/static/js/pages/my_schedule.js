/*
 * The employee's "Jadwal saya" tab (inside /absen): the next 14 days of the roster
 * (GET /api/me/schedule), attendance requests (POST /api/attendance-requests) and the
 * own list (GET /api/attendance-requests). Live: request.* events on user.{id} update a
 * row (an admin's decision), with a toast.
 */
document.addEventListener("alpine:init", () => {
  Alpine.data("mySchedule", () => ({
    me: Absensi.context.user,
    days: [],
    requests: [],
    loading: true,
    saving: false,
    error: "",
    flash: {},
    form: { kind: "both", work_date: "", check_in: "", check_out: "", reason: "" },
    SOURCES: { assignment: "Jadwal", branch_default: "Jam kerja cabang", holiday: "Hari libur", off: "Libur" },
    STATUS_LABELS: { pending: "Menunggu", approved: "Disetujui", rejected: "Ditolak" },
    STATUS_CLASSES: { pending: "badge-info", approved: "badge-success", rejected: "badge-danger" },

    init() {
      Absensi.realtime.subscribe("user." + this.me.id, (request, frame) => {
        if (String(frame.event).startsWith("request.")) this.onEvent(request, frame);
      }, { onReload: () => this.load() });
      this.load();
    },

    async load() {
      this.loading = true;
      try {
        const [schedule, list] = await Promise.all([
          Absensi.api.get("/api/me/schedule"),
          Absensi.api.get(Absensi.url("/api/attendance-requests", { per_page: 50 })),
        ]);
        this.days = schedule.data || [];
        this.requests = list.data || [];
      } catch (err) {
        this.error = "Jadwal gagal dimuat: " + err.userMessage;
      } finally {
        this.loading = false;
      }
    },

    upsert(request) {
      const i = this.requests.findIndex((r) => r.id === request.id);
      if (i >= 0) {
        const copy = this.requests.slice();
        copy[i] = request;
        this.requests = copy;
      } else {
        this.requests = [request].concat(this.requests);
      }
      Absensi.attendance.highlight(this, request.id);
    },

    onEvent(request, frame) {
      this.upsert(request);
      if (frame.event === "request.updated" && request.status !== "pending") {
        Absensi.toast("Koreksi absensi " + Absensi.fmt.date(request.work_date) + " " +
                      this.STATUS_LABELS[request.status].toLowerCase(),
                      { kind: request.status === "approved" ? "success" : "warning" });
      }
    },

    // "HH:MM" on the work date in the user's branch offset; a time before the check-in
    // (a night shift's check-out) falls on the next day
    instant(date, time, after) {
      if (!date || !time) return null;
      const offset = (Absensi.context.user.branch.timezone === "Asia/Makassar") ? "+08:00" : "+07:00";
      let day = date;
      if (after && time < after) {
        const next = new Date(date + "T00:00:00Z");
        next.setUTCDate(next.getUTCDate() + 1);
        day = next.toISOString().slice(0, 10);
      }
      return day + "T" + time + ":00" + offset;
    },

    async submit() {
      if (this.saving) return;
      this.error = "";
      const f = this.form;
      const body = { kind: f.kind, work_date: f.work_date, reason: f.reason };
      if (f.kind !== "check_out") body.check_in_at = this.instant(f.work_date, f.check_in);
      if (f.kind !== "check_in") {
        body.check_out_at = this.instant(f.work_date, f.check_out, f.kind === "both" ? f.check_in : null);
      }
      this.saving = true;
      try {
        this.upsert(await Absensi.api.post("/api/attendance-requests", body, { idempotencyKey: Absensi.uuid() }));
        this.form = { kind: f.kind, work_date: "", check_in: "", check_out: "", reason: "" };
        Absensi.toast("Pengajuan koreksi terkirim", { kind: "success" });
      } catch (err) {
        this.error = Absensi.fieldErrors(err);
      } finally {
        this.saving = false;
      }
    },
  }));
});
