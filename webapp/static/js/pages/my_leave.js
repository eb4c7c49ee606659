/*
 * The employee's "Izin & Cuti" tab (inside /absen): cuti balance
 * (GET /api/me/leave-balance), request (POST /api/leave), own list
 * (GET /api/leave) and cancel. Live: leave.* events on user.{id} update a
 * row (e.g. an admin's approval) and the balance, with a toast.
 */
document.addEventListener("alpine:init", () => {
  const STATUS_CLASSES = {
    pending: "badge-info", approved: "badge-success", rejected: "badge-danger", cancelled: "badge-neutral",
  };

  Alpine.data("myLeave", () => ({
    me: Absensi.context.user,
    balance: {},
    rows: [],
    loading: true,
    saving: false,
    busyId: null,
    error: "",
    flash: {},
    form: { kind: "cuti", date_from: "", date_to: "", reason: "" },

    init() {
      Absensi.realtime.subscribe("user." + this.me.id, (leave, frame) => {
        if (String(frame.event).startsWith("leave.")) this.onEvent(leave, frame);
      }, { onReload: () => this.load() });
      this.load();
    },

    statusClass: (status) => STATUS_CLASSES[status] || "badge-neutral",

    async load() {
      this.loading = true;
      try {
        const [list, balance] = await Promise.all([
          Absensi.api.get(Absensi.url("/api/leave", { per_page: 50 })),
          Absensi.api.get("/api/me/leave-balance"),
        ]);
        this.rows = list.data || [];
        this.balance = balance;
      } catch (err) {
        this.error = "Data izin gagal dimuat: " + err.userMessage;
      } finally {
        this.loading = false;
      }
    },

    async refreshBalance() {
      try {
        this.balance = await Absensi.api.get("/api/me/leave-balance");
      } catch (err) {
        // the next event or reload tries again
      }
    },

    upsert(leave) {
      const i = this.rows.findIndex((r) => r.id === leave.id);
      if (i >= 0) {
        const copy = this.rows.slice();
        copy[i] = leave;
        this.rows = copy;
      } else {
        this.rows = [leave].concat(this.rows);
      }
      Absensi.attendance.highlight(this, leave.id);
    },

    onEvent(leave, frame) {
      const known = this.rows.find((r) => r.id === leave.id);
      this.upsert(leave);
      this.refreshBalance();
      if (frame.event === "leave.updated" && known && known.status !== leave.status &&
          (leave.status === "approved" || leave.status === "rejected")) {
        Absensi.toast("Pengajuan " + Absensi.fmt.leaveKind(leave.kind).toLowerCase() + " " +
                      Absensi.fmt.date(leave.date_from) + " " + Absensi.fmt.leaveStatus(leave.status).toLowerCase(),
                      { kind: leave.status === "approved" ? "success" : "warning" });
      }
    },

    async submit() {
      if (this.saving) return;
      this.error = "";
      if (!this.form.date_to) this.form.date_to = this.form.date_from;
      this.saving = true;
      try {
        const leave = await Absensi.api.post("/api/leave", Object.assign({}, this.form), {
          idempotencyKey: Absensi.uuid(),
        });
        this.upsert(leave);
        this.refreshBalance();
        this.form = { kind: this.form.kind, date_from: "", date_to: "", reason: "" };
        Absensi.toast("Pengajuan terkirim: " + leave.days + " hari kerja", { kind: "success" });
      } catch (err) {
        this.error = Absensi.fieldErrors(err);
      } finally {
        this.saving = false;
      }
    },

    async cancel(leave) {
      this.busyId = leave.id;
      try {
        this.upsert(await Absensi.api.post("/api/leave/" + leave.id + "/cancel"));
        this.refreshBalance();
      } catch (err) {
        Absensi.toast(err.userMessage, { kind: "error" });
        if (err.body && err.body.leave) this.upsert(err.body.leave);
      } finally {
        this.busyId = null;
      }
    },
  }));
});
