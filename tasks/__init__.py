"""Background work: the Dramatiq broker and actors, the scheduler, and their CLI.

Nothing here is imported by the web nodes (they enqueue through
:mod:`webapp.events.handoff`); ``absensi worker`` / ``scheduler`` and the outbox commands
of the ``absensi`` CLI dispatch here.
"""
