"""Leave events' types (the outbox rows are written by :mod:`webapp.leave.services`)."""
LEAVE_CREATED = "leave.created"
LEAVE_UPDATED = "leave.updated"
