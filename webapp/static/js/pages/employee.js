/*
 * Employee page (/absen): today's status, check-in/check-out, own history.
 * Live: subscribes to user.{id}, so a check-in made on another device or
 * node (or an admin's correction) shows up here too. Where the branch has a
 * geofence, check-in/out first asks the browser for its location.
 * The "Izin & Cuti" tab is its own component (my_leave.js).
 */
document.addEventListener("alpine:init", () => {
  Alpine.data("employeePage", () => ({
    user: Absensi.context.user,
    tab: location.hash === "#izin" ? "leave" : "attendance",
    locating: false,
    todayDate: "",
    today: null,
    loading: true,
    loadFailed: false,
    busy: null,
    note: "",
    error: "",
    history: [],
    page: 1,
    perPage: 10,
    total: 0,
    historyLoading: true,
    historyError: "",
    seq: 0,
    events: new Absensi.EventLog(),

    get timezone() {
      return this.user && this.user.branch ? this.user.branch.timezone : undefined;
    },

    get todayState() {
      if (this.today) return this.today.check_out_at ? "out" : "in";
      if (this.loading) return "loading";
      return this.loadFailed ? "error" : "none";
    },

    init() {
      this.todayDate = Absensi.todayIn(this.timezone);
      Absensi.realtime.subscribe("user." + this.user.id, (data, frame) => {
        if (String(frame.event).startsWith("attendance.")) this.onEvent(data);
      }, {
        onReload: () => this.reload(),
      });
      this.$watch("tab", (tab) => history.replaceState(null, "", tab === "leave" ? "#izin" : "#absensi"));
      this.reload();
      // Midnight in the branch's timezone starts a new attendance day.
      setInterval(() => {
        const date = Absensi.todayIn(this.timezone);
        if (date !== this.todayDate) {
          this.todayDate = date;
          this.today = null;
          this.reload();
        }
      }, 30000);
    },

    ...Absensi.pager("reload"),

    /** Today's record comes from page 1; the table shows the current page. */
    async reload() {
      const seq = ++this.seq;
      const started = Date.now();
      this.historyLoading = true;
      try {
        const url = (page) => Absensi.url("/api/me/attendances", { page, per_page: this.perPage });
        const first = await Absensi.api.get(url(1));
        const current = this.page === 1 ? first : await Absensi.api.get(url(this.page));
        if (seq !== this.seq) return;
        const todays = (first.data || []).find((a) => a.work_date === this.todayDate) || null;
        if (todays) this.today = Absensi.attendance.newer(this.today && this.today.id === todays.id ? this.today : null, todays);
        this.history = current.data || [];
        this.total = current.total || 0;
        this.loadFailed = false;
        this.historyError = "";
        // Events that arrived while the request was in flight may be newer than the snapshot.
        this.events.since(started).forEach((a) => this.apply(a));
      } catch (err) {
        if (seq !== this.seq) return;
        this.loadFailed = true;
        this.historyError = err.userMessage;
      } finally {
        if (seq === this.seq) {
          this.loading = false;
          this.historyLoading = false;
        }
      }
    },

    onEvent(att) {
      this.events.add(att);
      this.apply(att);
    },

    apply(att) {
      if (att.work_date === this.todayDate && (!this.today || this.today.id === att.id)) {
        this.today = Absensi.attendance.newer(this.today, att);
      }
      const result = Absensi.attendance.upsert(this.history, att, this.page === 1);
      this.history = result.inserted ? result.rows.slice(0, this.perPage) : result.rows;
      if (result.inserted) this.total += 1;
    },

    async act(kind) {
      if (this.busy) return;
      this.busy = kind;
      this.error = "";
      const note = this.note.trim();
      try {
        const body = note ? { note } : {};
        const fence = this.user.branch && this.user.branch.geofence;
        if (fence) body.location = await this.locate(fence);
        // One key per click; Absensi.api reuses it on network retries so a
        // retried check-in can never count twice.
        const res = await Absensi.api.post("/api/attendance/" + kind, body, {
          idempotencyKey: Absensi.uuid(),
        });
        const att = res.attendance;
        if (kind === "check-in") this.todayDate = att.work_date;
        this.apply(att);
        this.note = "";
        // the pressed button may now be disabled: focus the new status, which is read out
        this.$nextTick(() => Absensi.focusResult(document.getElementById("today-status")));
        Absensi.toast(
          kind === "check-in"
            ? "Absen masuk tercatat pukul " + Absensi.fmt.time(att.check_in_at) + " (" + Absensi.fmt.status(att.status) + ")"
            : "Absen pulang tercatat pukul " + Absensi.fmt.time(att.check_out_at),
          { kind: "success" },
        );
      } catch (err) {
        if (err.locationMessage) {
          this.error = err.locationMessage;
          return;
        }
        // The server's text says how far away and how inaccurate: more useful than a code.
        const geo = ["outside_geofence", "location_inaccurate"].includes(err.code);
        this.error = geo && err.body.message ? err.body.message : err.userMessage;
        if (err.body && err.body.attendance) this.apply(err.body.attendance);
        else if (err.status === 409) this.reload();
      } finally {
        this.busy = null;
        this.locating = false;
      }
    },

    /** The browser's position as the API's `location`, or a thrown {locationMessage}. */
    locate(fence) {
      this.locating = true;
      return new Promise((resolve, reject) => {
        const fail = (message) => reject({ locationMessage: message });
        if (!navigator.geolocation) {
          fail("Browser ini tidak dapat memberi lokasi, padahal cabang Anda memakai geofence.");
          return;
        }
        navigator.geolocation.getCurrentPosition(
          (pos) => {
            const location = {
              lat: pos.coords.latitude, lon: pos.coords.longitude,
              accuracy_m: Math.round(pos.coords.accuracy * 10) / 10,
            };
            if (location.accuracy_m > fence.radius_m) {
              fail("Lokasi kurang akurat (±" + Math.round(location.accuracy_m) + " m, paling banyak " +
                   fence.radius_m + " m). Nyalakan GPS atau pindah ke tempat terbuka, lalu coba lagi.");
            } else resolve(location);
          },
          (error) => fail(error.code === 1
            ? "Akses lokasi ditolak. Izinkan lokasi untuk situs ini di pengaturan browser, lalu coba lagi."
            : "Lokasi belum dapat ditentukan. Pastikan GPS/lokasi aktif, lalu coba lagi."),
          { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 },
        );
      });
    },
  }));
});
