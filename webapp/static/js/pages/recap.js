/* Admin monthly recap (/admin/rekap): GET /api/reports/monthly, a totals row, CSV export. */
document.addEventListener("alpine:init", () => {
  const LEAVE_KEYS = ["izin", "sakit", "cuti"];

  Alpine.data("recapPage", () => ({
    month: Absensi.todayIn("Asia/Jakarta").slice(0, 7),
    branch: "",
    rows: [],
    loading: true,
    error: "",
    seq: 0,

    init() {
      this.load();
    },

    get csvUrl() {
      return Absensi.url("/api/reports/monthly.csv", { month: this.month, branch: this.branch });
    },

    total(key) {
      const pick = LEAVE_KEYS.includes(key) ? (r) => r.leave[key] : (r) => r[key];
      return this.rows.reduce((sum, r) => sum + (pick(r) || 0), 0);
    },

    async load() {
      const seq = ++this.seq;
      this.loading = true;
      try {
        const res = await Absensi.api.get(Absensi.url("/api/reports/monthly", { month: this.month, branch: this.branch }));
        if (seq !== this.seq) return;
        this.rows = res.data || [];
        this.error = "";
      } catch (err) {
        if (seq === this.seq) this.error = Absensi.fieldErrors(err);
      } finally {
        if (seq === this.seq) this.loading = false;
      }
    },
  }));
});
