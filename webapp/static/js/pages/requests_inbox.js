/*
 * Admin inbox of attendance requests (/admin/koreksi): GET /api/attendance-requests
 * filtered by status and branch; approve / reject
 * (POST /api/attendance-requests/{id}/approve|reject). Live: the `requests` channel
 * inserts new requests on top and updates decided ones (Absensi.inbox, shared with the
 * leave inbox).
 */
document.addEventListener("alpine:init", () => {
  const STATUS_CLASSES = { pending: "badge-info", approved: "badge-success", rejected: "badge-danger" };
  const STATUS_LABELS = { pending: "Menunggu", approved: "Disetujui", rejected: "Ditolak" };
  const KINDS = { check_in: "Absen masuk", check_out: "Absen pulang", both: "Masuk & pulang" };

  Alpine.data("requestsInbox", () => ({
    STATUS_CLASSES, STATUS_LABELS, KINDS,
    ...Absensi.inbox({
      channel: "requests",
      path: "/api/attendance-requests",
      created: "request.created",
      announce: (request) => request.user.name + " mengajukan koreksi absensi " +
        Absensi.fmt.date(request.work_date),
      statusLabel: (status) => STATUS_LABELS[status],
      errorKey: "request",
    }),
  }));
});
