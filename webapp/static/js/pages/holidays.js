/* Admin holidays (/admin/libur): list per year, add (POST /api/holidays), delete. */
document.addEventListener("alpine:init", () => {
  Alpine.data("holidaysPage", () => {
    const thisYear = Number(Absensi.todayIn("Asia/Jakarta").slice(0, 4));
    return {
      year: thisYear,
      years: [thisYear - 1, thisYear, thisYear + 1],
      rows: [],
      loading: true,
      error: "",
      form: { date: "", name: "", branch: "" },
      formError: "",
      saving: false,

      init() {
        this.load();
      },

      async load() {
        this.loading = true;
        try {
          this.rows = (await Absensi.api.get(Absensi.url("/api/holidays", { year: this.year }))).data || [];
          this.error = "";
        } catch (err) {
          this.error = "Daftar hari libur gagal dimuat: " + err.userMessage;
        } finally {
          this.loading = false;
        }
      },

      async add() {
        this.saving = true;
        this.formError = "";
        try {
          const holiday = await Absensi.api.post("/api/holidays", {
            date: this.form.date, name: this.form.name, branch: this.form.branch || null,
          });
          Absensi.toast("Hari libur ditambahkan: " + holiday.name, { kind: "success" });
          this.form = { date: "", name: "", branch: this.form.branch };
          if (Number(holiday.date.slice(0, 4)) === this.year) this.load();
        } catch (err) {
          this.formError = Absensi.fieldErrors(err);
        } finally {
          this.saving = false;
        }
      },

      async remove(holiday) {
        if (!confirm("Hapus hari libur " + holiday.name + "?")) return;
        try {
          await Absensi.api.delete("/api/holidays/" + holiday.id);
          this.rows = this.rows.filter((h) => h.id !== holiday.id);
        } catch (err) {
          Absensi.toast(err.userMessage, { kind: "error" });
        }
      },
    };
  });
});
