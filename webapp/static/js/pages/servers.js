/*
 * Admin servers (/admin/server): live nodes from GET /api/servers; the
 * `servers` channel's node.up / node.down events (data = Node) patch the table.
 * A node that went down stays listed as "Mati" for a few minutes so it is noticed.
 */
document.addEventListener("alpine:init", () => {
  const ROLES = [
    ["web", "Web"],
    ["gateway", "Gateway"],
    ["worker", "Worker"],
    ["scheduler", "Penjadwal"],
  ];
  const ROLE_LABELS = Object.fromEntries(ROLES);
  const ROLE_ORDER = Object.fromEntries(ROLES.map(([role], i) => [role, i]));
  const RELOAD_MS = 30000;
  const KEEP_DOWN_MS = 10 * 60 * 1000;

  Alpine.data("serversPage", () => ({
    nodes: [],
    flash: {},
    loading: true,
    error: "",
    updatedAt: "",
    now: Date.now(),
    seq: 0,
    servedBy: Absensi.context.node_id,

    init() {
      Absensi.realtime.subscribe("servers", (node, frame) => this.onEvent(node, frame), {
        onReload: () => this.load(),
      });
      this.load();
      setInterval(() => (this.now = Date.now()), 5000);
      // Heartbeats are the source of truth; the reload also catches expiries without an event.
      setInterval(() => this.load(), RELOAD_MS);
    },

    roleLabel: (role) => ROLE_LABELS[role] || role,

    get sortedNodes() {
      return this.nodes.slice().sort(
        (a, b) => (ROLE_ORDER[a.role] ?? 9) - (ROLE_ORDER[b.role] ?? 9) || a.node_id.localeCompare(b.node_id, "en", { numeric: true }),
      );
    },

    get roleSummary() {
      return ROLES.map(([role, label]) => ({
        role,
        label,
        up: this.nodes.filter((n) => n.role === role && n.status === "up").length,
        down: this.nodes.filter((n) => n.role === role && n.status !== "up").length,
      }));
    },

    async load() {
      const seq = ++this.seq;
      this.loading = true;
      try {
        const res = await Absensi.api.get("/api/servers");
        if (seq !== this.seq) return;
        const live = res.nodes || [];
        // Keep nodes we saw go down so the admin notices; the live list wins otherwise.
        const liveIds = new Set(live.map((n) => n.node_id));
        const down = this.nodes.filter(
          (n) => n.status !== "up" && !liveIds.has(n.node_id) && Date.now() - (n.downAt || 0) < KEEP_DOWN_MS,
        );
        this.nodes = live.concat(down);
        this.error = "";
        const user = Absensi.context.user;
        this.updatedAt = Absensi.fmt.nowIn(user && user.branch ? user.branch.timezone : undefined, { seconds: true });
      } catch (err) {
        if (seq === this.seq) this.error = "Daftar server gagal dimuat: " + err.userMessage;
      } finally {
        if (seq === this.seq) this.loading = false;
      }
    },

    onEvent(node, frame) {
      if (!node || !node.node_id) return;
      const isDown = frame.event === "node.down";
      const next = Object.assign({}, node, {
        status: isDown ? (node.status && node.status !== "up" ? node.status : "down") : "up",
        downAt: isDown ? Date.now() : null,
      });
      const i = this.nodes.findIndex((n) => n.node_id === next.node_id);
      const changed = i < 0 || this.nodes[i].status !== next.status;
      this.nodes = i >= 0 ? this.nodes.map((n, j) => (j === i ? Object.assign({}, n, next) : n)) : this.nodes.concat([next]);
      // A repeated node.up (e.g. a restarted worker process) is not news.
      if (!changed) return;
      this.flash = Object.assign({}, this.flash, { [next.node_id]: true });
      setTimeout(() => {
        const copy = Object.assign({}, this.flash);
        delete copy[next.node_id];
        this.flash = copy;
      }, 2500);
      const where = next.city ? " (" + next.city + ")" : "";
      Absensi.toast(next.node_id + where + (isDown ? " mati" : " aktif"), { kind: isDown ? "error" : "success" });
    },
  }));
});
