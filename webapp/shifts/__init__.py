"""Shift types (their CRUD), schedules (rotas) and the roster they expand to.

The ``ShiftType`` model lives in :mod:`webapp.branches.models` (every branch owns its
default shift type); this area assigns shift types to employees and answers, for any
employee and date, which shift they work (:mod:`webapp.shifts.roster`).
"""
