/*
 * Admin leave inbox (/admin/izin): GET /api/leave filtered by status and
 * branch; approve / reject (POST /api/leave/{id}/approve|reject). Live: the
 * `leave` channel inserts new requests on top and updates decided ones
 * (Absensi.inbox, shared with the attendance requests' inbox).
 */
document.addEventListener("alpine:init", () => {
  const STATUS_CLASSES = {
    pending: "badge-info", approved: "badge-success", rejected: "badge-danger", cancelled: "badge-neutral",
  };

  Alpine.data("leaveInbox", () => ({
    ...Absensi.inbox({
      channel: "leave",
      path: "/api/leave",
      created: "leave.created",
      announce: (leave) => leave.user.name + " mengajukan " +
        Absensi.fmt.leaveKind(leave.kind).toLowerCase() + " (" + leave.days + " hari)",
      statusLabel: (status) => Absensi.fmt.leaveStatus(status),
      errorKey: "leave",
    }),
    statusClass: (status) => STATUS_CLASSES[status] || "badge-neutral",
  }));
});
