/*
 * Admin kiosks (/admin/kios): list with the live last_seen (refreshed every 15 s, the
 * kiosks' own rhythm; one cheap request: last_seen comes from Redis), create (the
 * one-time enrollment code is shown once), revoke (at once).
 */
document.addEventListener("alpine:init", () => {
  Alpine.data("kiosksPage", () => ({
    rows: [],
    loading: true,
    error: "",
    form: { name: "", branch: (Absensi.context.branches[0] || {}).code || "" },
    formError: "",
    saving: false,
    enrollment: null,
    now: Date.now(),

    init() {
      this.load();
      setInterval(() => this.load(), 15000);
    },

    /** Seen within the last minute: it is showing codes right now. */
    online(kiosk) {
      return kiosk.last_seen && this.now - Date.parse(kiosk.last_seen) < 60000;
    },

    async load() {
      try {
        this.rows = (await Absensi.api.get("/api/kiosks")).data || [];
        this.now = Date.now();
        this.error = "";
      } catch (err) {
        this.error = "Daftar kios gagal dimuat: " + err.userMessage;
      } finally {
        this.loading = false;
      }
    },

    async add() {
      this.saving = true;
      this.formError = "";
      try {
        const created = await Absensi.api.post("/api/kiosks", { name: this.form.name, branch: this.form.branch });
        this.enrollment = { name: created.kiosk.name, code: created.enrollment_code };
        this.form.name = "";
        await this.load();
        this.$nextTick(() => document.getElementById("enrollment").focus && document.getElementById("enrollment").focus());
      } catch (err) {
        this.formError = Absensi.fieldErrors(err);
      } finally {
        this.saving = false;
      }
    },

    async revoke(kiosk) {
      if (!confirm("Cabut kios " + kiosk.name + "? Kios langsung berhenti bekerja.")) return;
      try {
        await Absensi.api.delete("/api/kiosks/" + kiosk.id);
        Absensi.toast("Kios dicabut: " + kiosk.name, { kind: "success" });
        await this.load();
      } catch (err) {
        Absensi.toast(err.userMessage, { kind: "error" });
      }
    },
  }));

  /** Employee numbers of one branch's people (PATCH /api/users/{id}). */
  Alpine.data("employeeNumbers", () => ({
    branch: (Absensi.context.branches[0] || {}).code || "",
    users: [],
    error: "",

    init() {
      this.load();
    },

    async load() {
      try {
        const page = await Absensi.api.get(Absensi.url("/api/users", { branch: this.branch, per_page: 100 }));
        this.users = (page.data || []).map((u) => Object.assign(u, { draft: u.employee_number || "" }));
        this.error = "";
      } catch (err) {
        this.error = "Daftar karyawan gagal dimuat: " + err.userMessage;
      }
    },

    async save(user) {
      try {
        const saved = await Absensi.api.patch("/api/users/" + user.id, { employee_number: user.draft.trim() || null });
        user.employee_number = saved.employee_number;
        Absensi.toast("Nomor karyawan " + user.name + " disimpan.", { kind: "success" });
      } catch (err) {
        Absensi.toast(Absensi.fieldErrors(err), { kind: "error" });
      }
    },
  }));
});
