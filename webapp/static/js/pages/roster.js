/*
 * Admin week roster (/admin/jadwal): employees × 7 days of a branch from
 * GET /api/schedules; select cells (click, or Space/Enter on the focused cell), choose
 * a shift type (or a day off) and apply: one POST /api/schedules per date with the
 * selected employees. "Salin minggu lalu" repeats last week's assignments (shifts and
 * assigned days off) on this week. Live: another admin's assignment (`schedule.updated` on
 * the `schedules` channel) that touches the shown week reloads it, keeping the selection.
 */
document.addEventListener("alpine:init", () => {
  const iso = (date) => date.toISOString().slice(0, 10);
  const addDays = (day, n) => {
    const d = new Date(day + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return iso(d);
  };

  Alpine.data("rosterPage", () => ({
    branch: (Absensi.context.user.branch || {}).code || "JKT",
    monday: "",
    dates: [],
    people: [],
    cells: {},
    types: [],
    selected: {},
    shiftCode: "",
    loading: true,
    busy: false,
    error: "",
    reloadTimer: null,

    init() {
      this.monday = this.mondayOf(Absensi.todayIn ? Absensi.todayIn() : iso(new Date()));
      Absensi.api.get("/api/shift-types").then((res) => (this.types = res.data || []));
      Absensi.realtime.subscribe("schedules", (change) => this.onScheduleUpdated(change), {
        onReload: ({ initial }) => { if (!initial) this.reloadSoon(); },
      });
      this.load();
    },

    /** Reload the week when a change touches its dates (one reload for a burst). */
    onScheduleUpdated(change) {
      const last = this.dates[this.dates.length - 1];
      if (!last || change.date_to < this.monday || change.date_from > last) return;
      this.reloadSoon();
    },

    reloadSoon() {
      clearTimeout(this.reloadTimer);
      this.reloadTimer = setTimeout(() => this.load({ keepSelection: true }), 150);
    },

    mondayOf(day) {
      const d = new Date(day + "T00:00:00Z");
      return addDays(day, -((d.getUTCDay() + 6) % 7));
    },

    shift(days) {
      this.monday = addDays(this.monday, days);
      this.load();
    },

    short: (cell) => (!cell ? "…" : cell.shift_type ? cell.shift_type.code : (cell.source === "holiday" ? "Libur nas." : "Libur")),
    label: (cell) => (!cell ? "" : cell.shift_type ? cell.shift_type.name + " " + cell.shift_type.start + "–" + cell.shift_type.end : "Libur"),
    count() { return Object.keys(this.selected).length; },

    toggle(userId, day) {
      const key = userId + "|" + day;
      const copy = Object.assign({}, this.selected);
      if (copy[key]) delete copy[key]; else copy[key] = true;
      this.selected = copy;
    },

    async week(monday) {
      const res = await Absensi.api.get(Absensi.url("/api/schedules", {
        from: monday, to: addDays(monday, 6), branch: this.branch }));
      return res.data || [];
    },

    async load(options) {
      const keepSelection = options && options.keepSelection;
      this.loading = true;
      this.error = "";
      try {
        const rows = await this.week(this.monday);
        const people = [], seen = {}, cells = {};
        rows.forEach((r) => {
          if (!seen[r.user.id]) { seen[r.user.id] = true; people.push(r.user); }
          cells[r.user.id + "|" + r.date] = r;
        });
        this.dates = [0, 1, 2, 3, 4, 5, 6].map((n) => addDays(this.monday, n));
        this.people = people;
        this.cells = cells;
        if (!keepSelection) this.selected = {};
      } catch (err) {
        this.error = "Jadwal gagal dimuat: " + err.userMessage;
      } finally {
        this.loading = false;
      }
    },

    /** One POST per (date, shift) with every employee of that group. */
    async assign(groups) {
      let days = 0;
      for (const key of Object.keys(groups)) {
        const [date, code] = key.split("|");
        const res = await Absensi.api.post("/api/schedules", {
          user_ids: groups[key], date_from: date, date_to: date, shift_type: code || null });
        days += res.days;
      }
      return days;
    },

    async apply() {
      const groups = {};
      Object.keys(this.selected).forEach((cell) => {
        const [userId, date] = cell.split("|");
        (groups[date + "|" + this.shiftCode] = groups[date + "|" + this.shiftCode] || []).push(Number(userId));
      });
      await this.run(groups, "Jadwal disimpan");
    },

    async copyLastWeek() {
      const groups = {};
      try {
        const branch = (Absensi.context.branches || []).find((b) => b.code === this.branch) || {};
        const workDays = branch.work_days || [1, 2, 3, 4, 5];
        (await this.week(addDays(this.monday, -7))).forEach((r) => {
          // only what someone assigned: a shift, or a day off on a work day (not the
          // branch default, a holiday or a weekend, which this week has on its own)
          const weekday = ((new Date(r.date + "T00:00:00Z").getUTCDay() + 6) % 7) + 1;
          const assigned = r.source === "assignment" ||
            (r.source === "off" && workDays.indexOf(weekday) >= 0);
          if (!assigned) return;
          const key = addDays(r.date, 7) + "|" + (r.shift_type ? r.shift_type.code : "");
          (groups[key] = groups[key] || []).push(r.user.id);
        });
      } catch (err) {
        Absensi.toast("Jadwal minggu lalu gagal dimuat: " + err.userMessage, { kind: "error" });
        return;
      }
      await this.run(groups, "Jadwal minggu lalu disalin");
    },

    async run(groups, message) {
      this.busy = true;
      try {
        const days = await this.assign(groups);
        Absensi.toast(message + " (" + days + " hari)", { kind: "success" });
        await this.load();
      } catch (err) {
        Absensi.toast(Absensi.fieldErrors(err), { kind: "error" });
      } finally {
        this.busy = false;
      }
    },
  }));
});
