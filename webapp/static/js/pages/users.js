/*
 * Admin users (/admin/karyawan): list (GET /api/users), create (POST),
 * edit / (de)activate / reset password (PATCH /api/users/{id}).
 * 422 `fields` and 409 `email_taken` are shown next to the inputs.
 */
document.addEventListener("alpine:init", () => {
  const TITLES = { create: "Tambah karyawan", edit: "Ubah data karyawan", password: "Reset kata sandi" };

  Alpine.data("usersPage", () => ({
    me: Absensi.context.user || {},
    rows: [],
    page: 1,
    perPage: 20,
    total: 0,
    branchFilter: "",
    loading: true,
    error: "",
    seq: 0,
    busyId: null,

    mode: null,
    form: {},
    errors: {},
    formError: "",
    saving: false,

    get title() {
      return TITLES[this.mode] || "";
    },

    init() {
      this.load();
    },

    ...Absensi.pager("load"),

    async load() {
      const seq = ++this.seq;
      this.loading = true;
      try {
        const res = await Absensi.api.get(Absensi.url("/api/users", { branch: this.branchFilter, page: this.page }));
        if (seq !== this.seq) return;
        this.rows = res.data || [];
        this.total = res.total || 0;
        this.perPage = res.per_page || this.perPage;
        this.error = "";
      } catch (err) {
        if (seq === this.seq) this.error = "Daftar karyawan gagal dimuat: " + err.userMessage;
      } finally {
        if (seq === this.seq) this.loading = false;
      }
    },

    open(mode, user) {
      const defaultBranch = this.branchFilter || (this.me.branch && this.me.branch.code) || "";
      this.mode = mode;
      this.errors = {};
      this.formError = "";
      this.form = user
        ? { id: user.id, name: user.name, email: user.email, role: user.role, branch: user.branch.code, password: "", password2: "" }
        : { id: null, name: "", email: "", role: "employee", branch: defaultBranch, password: "", password2: "" };
      this.$refs.dialog.showModal();
      this.$nextTick(() => {
        const first = this.$refs.dialog.querySelector("input:not([type=hidden])");
        if (first) first.focus();
      });
    },

    close() {
      this.$refs.dialog.close();
    },

    /** Client-side checks for what the browser can know; the server has the last word. */
    validate() {
      const e = {};
      const f = this.form;
      if (this.mode !== "password") {
        if (!f.name) e.name = "Nama wajib diisi";
        if (!f.branch) e.branch = "Cabang wajib dipilih";
      }
      if (this.mode === "create") {
        if (!f.email) e.email = "Email wajib diisi";
        else if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(f.email)) e.email = "Format email tidak valid";
      }
      if (this.mode !== "edit") {
        if (!f.password) e.password = "Kata sandi wajib diisi";
        else if (f.password !== f.password2) e.password2 = "Kata sandi tidak sama";
      }
      this.errors = e;
      return !Object.keys(e).length;
    },

    async save() {
      if (this.saving || !this.validate()) return;
      this.saving = true;
      this.formError = "";
      const f = this.form;
      try {
        let user;
        if (this.mode === "create") {
          // nginx may retry this POST on another node: the key makes that a replay
          user = await Absensi.api.post("/api/users", {
            name: f.name, email: f.email, password: f.password, role: f.role, branch: f.branch,
          }, { idempotencyKey: Absensi.uuid() });
          Absensi.toast("Akun " + user.name + " dibuat", { kind: "success" });
          this.load();
        } else {
          const body = this.mode === "edit" ? { name: f.name, role: f.role, branch: f.branch } : { password: f.password };
          user = await Absensi.api.patch("/api/users/" + f.id, body);
          this.replace(user);
          Absensi.toast(this.mode === "edit" ? "Data " + user.name + " disimpan" : "Kata sandi " + user.name + " diganti", {
            kind: "success",
          });
        }
        this.close();
      } catch (err) {
        this.showErrors(err);
      } finally {
        this.saving = false;
      }
    },

    showErrors(err) {
      const errors = {};
      Object.keys(err.fields || {}).forEach((k) => (errors[k] = Absensi.messages.field(k, err.fields[k])));
      if (err.code === "email_taken") errors.email = Absensi.messages.error(err);
      this.errors = errors;
      // Errors on fields this form does not show still need to be visible.
      const shown = new Set(["name", "email", "role", "branch", "password"]);
      const hidden = Object.keys(errors).filter((k) => !shown.has(k));
      this.formError = Object.keys(errors).length
        ? hidden.map((k) => errors[k]).join(". ")
        : err.userMessage;
    },

    replace(user) {
      this.rows = this.rows.map((u) => (u.id === user.id ? user : u));
    },

    async toggleActive(u) {
      if (u.id === this.me.id) return;
      this.busyId = u.id;
      try {
        const user = await Absensi.api.patch("/api/users/" + u.id, { active: !u.active });
        this.replace(user);
        Absensi.toast(user.name + (user.active ? " diaktifkan kembali" : " dinonaktifkan"), { kind: "success" });
      } catch (err) {
        Absensi.toast(err.userMessage, { kind: "error" });
      } finally {
        this.busyId = null;
      }
    },
  }));
});
