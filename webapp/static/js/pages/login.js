/* Login page: POST /api/login as JSON, Indonesian errors, then redirect. */
document.addEventListener("alpine:init", () => {
  // ?next= was resolved by the server as the browser resolves URLs (webapp/accounts/
  // redirects.py): data-next is a path of this site, or empty.
  Alpine.data("loginPage", () => ({
    email: "",
    password: "",
    showPassword: false,
    busy: false,
    error: "",
    waitSeconds: 0,
    timer: null,

    async submit() {
      // The form stays usable during a lockout: the server decides, and answers 429 again.
      if (this.busy) return;
      if (!this.email || !this.password) {
        this.error = "Email dan kata sandi wajib diisi";
        return;
      }
      this.busy = true;
      this.error = "";
      clearInterval(this.timer);
      this.waitSeconds = 0;
      try {
        const res = await Absensi.api.post(
          "/api/login",
          { email: this.email, password: this.password },
          { authRedirect: false },
        );
        const user = res.user || {};
        const next = this.$root.dataset.next || "";
        // a second fence: a path, never "//host" or "/\\host"
        const home = user.role === "admin" ? "/admin" : "/absen";
        location.assign(/^\/(?![\/\\])/.test(next) ? next : home);
      } catch (err) {
        this.busy = false;
        if (err.code === "too_many_attempts") {
          this.countdown(err.retryAfter != null ? err.retryAfter : 60);
        } else if (err.status === 401) {
          this.error = Absensi.messages.error({ code: "invalid_credentials" });
          this.password = "";
        } else {
          this.error = err.userMessage;
        }
      }
    },

    // Keep the 429 message honest: count Retry-After down and re-enable the form.
    countdown(seconds) {
      clearInterval(this.timer);
      this.waitSeconds = seconds;
      const show = () => {
        this.error = this.waitSeconds > 0
          ? Absensi.messages.error({ code: "too_many_attempts", retryAfter: this.waitSeconds })
          : "";
      };
      show();
      this.timer = setInterval(() => {
        this.waitSeconds -= 1;
        show();
        if (this.waitSeconds <= 0) clearInterval(this.timer);
      }, 1000);
    },
  }));
});
