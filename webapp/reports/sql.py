"""Portable SQL for the recap's arithmetic on naive-UTC instants (MariaDB and SQLite)."""
from sqlalchemy import Integer
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class seconds_between(FunctionElement):  # noqa: N801 - reads like the SQL function it is
    """Whole seconds from ``start`` to ``end`` (DATETIME or DATE operands)."""

    type = Integer()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between)
def _seconds_between_default(element, compiler, **kw):
    start, end = list(element.clauses)
    return (f"(CAST(strftime('%s', {compiler.process(end, **kw)}) AS INTEGER) - "
            f"CAST(strftime('%s', {compiler.process(start, **kw)}) AS INTEGER))")


@compiles(seconds_between, "mysql")
def _seconds_between_mysql(element, compiler, **kw):
    start, end = list(element.clauses)
    return f"TIMESTAMPDIFF(SECOND, {compiler.process(start, **kw)}, {compiler.process(end, **kw)})"


class whole_minutes(FunctionElement):  # noqa: N801
    """``floor(seconds / 60)`` for a non-negative number of seconds."""

    type = Integer()
    inherit_cache = True
    name = "whole_minutes"


@compiles(whole_minutes)
def _whole_minutes_default(element, compiler, **kw):
    (seconds,) = list(element.clauses)
    return f"(({compiler.process(seconds, **kw)}) / 60)"  # SQLite: integer division


@compiles(whole_minutes, "mysql")
def _whole_minutes_mysql(element, compiler, **kw):
    (seconds,) = list(element.clauses)
    return f"(({compiler.process(seconds, **kw)}) DIV 60)"
