/* Admin branch settings (/admin/cabang): one form per branch, PATCH /api/branches/{code}. */
document.addEventListener("alpine:init", () => {
  function formFor(branch) {
    const fence = branch.geofence;
    return {
      shift_start: branch.shift_start, shift_end: branch.shift_end, grace_minutes: branch.grace_minutes,
      work_days: branch.work_days.slice(), fenced: !!fence,
      lat: fence ? fence.lat : "", lon: fence ? fence.lon : "", radius_m: fence ? fence.radius_m : 100,
    };
  }

  Alpine.data("branchesPage", () => ({
    branches: Absensi.context.branches || [],
    forms: {},
    errors: {},
    saving: null,

    init() {
      const forms = {};
      this.branches.forEach((b) => (forms[b.code] = formFor(b)));
      this.forms = forms;
    },

    async save(branch) {
      const form = this.forms[branch.code];
      this.saving = branch.code;
      this.errors = Object.assign({}, this.errors, { [branch.code]: "" });
      const body = {
        shift_start: form.shift_start, shift_end: form.shift_end, grace_minutes: form.grace_minutes,
        work_days: form.work_days.map(Number),
        geofence: form.fenced ? { lat: form.lat, lon: form.lon, radius_m: form.radius_m } : null,
      };
      try {
        const saved = await Absensi.api.patch("/api/branches/" + branch.code, body);
        this.forms = Object.assign({}, this.forms, { [branch.code]: formFor(saved) });
        Absensi.toast("Pengaturan " + saved.name + " disimpan", { kind: "success" });
      } catch (err) {
        this.errors = Object.assign({}, this.errors, { [branch.code]: Absensi.fieldErrors(err) });
      } finally {
        this.saving = null;
      }
    },
  }));
});
