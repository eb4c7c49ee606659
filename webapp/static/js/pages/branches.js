/*
 * Admin branch settings (/admin/cabang): one form per branch. Its rules go through
 * PATCH /api/branches/{code}, its sites (0–20 named circles, the first is also its
 * geofence) through PUT /api/branches/{code}/sites; "Gunakan lokasi saya" fills a site
 * from the browser's geolocation.
 */
document.addEventListener("alpine:init", () => {
  function formFor(branch) {
    return {
      shift_start: branch.shift_start, shift_end: branch.shift_end, grace_minutes: branch.grace_minutes,
      work_days: branch.work_days.slice(),
      sites: (branch.sites || []).map((s) => Object.assign({}, s)),
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

    useLocation(site) {
      if (!navigator.geolocation) {
        Absensi.toast("Peramban ini tidak dapat membaca lokasi.", { kind: "error" });
        return;
      }
      navigator.geolocation.getCurrentPosition((pos) => {
        site.lat = Number(pos.coords.latitude.toFixed(6));
        site.lon = Number(pos.coords.longitude.toFixed(6));
        Absensi.toast("Lokasi diisi (±" + Math.round(pos.coords.accuracy) + " m)", { kind: "info" });
      }, () => Absensi.toast("Lokasi tidak dapat dibaca (izin ditolak atau GPS mati).", { kind: "error" }),
      { enableHighAccuracy: true, timeout: 15000 });
    },

    async save(branch) {
      const form = this.forms[branch.code];
      this.saving = branch.code;
      this.errors = Object.assign({}, this.errors, { [branch.code]: "" });
      const body = {
        shift_start: form.shift_start, shift_end: form.shift_end, grace_minutes: form.grace_minutes,
        work_days: form.work_days.map(Number),
      };
      const sites = form.sites.map((s) => ({ name: s.name, lat: s.lat, lon: s.lon, radius_m: s.radius_m }));
      try {
        await Absensi.api.patch("/api/branches/" + branch.code, body);
        const saved = await Absensi.api.put("/api/branches/" + branch.code + "/sites", { sites });
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
