"""Attendance requests: an employee asks for a missing or wrong check-in/check-out to be
set; an admin approves (through the same code as an admin correction) or rejects."""
