"""Database helpers shared by the apps."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper


@contextmanager
def large_read() -> Iterator[CursorWrapper]:
    """A transaction for one of the few statements that read a lot (results, usage rollup).

    PostgreSQL's JIT compiles a statement whose estimated cost is high before running it;
    for these it cost 100-200 ms a statement (inlining and optimisation, bench/scale.py)
    against runs of 100 ms to 1 s, at every size, so it is off for the transaction
    (``SET LOCAL``: nothing outlives it, and a transaction-mode pooler is fine with it).
    """
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL jit = off")
        yield cursor
