"""Django's PostgreSQL backend for the test process, with one change: the flush that empties
the tables after each transactional test (TransactionTestCase, `transactional_db`,
`live_server`) DELETEs the rows instead of TRUNCATE-ing the tables.

A TRUNCATE gives each of the ~36 tables and their indexes new files, and that took 5–12 s per
test on a loaded machine against 0.2 s for DELETEs of the same (few) rows. The result is the
same: every table empty, in one transaction. Django's foreign keys on PostgreSQL are
DEFERRABLE INITIALLY DEFERRED, so the order of the DELETEs does not matter. A flush that must
cascade into tables outside the list, or restart the id sequences, keeps Django's TRUNCATE.

Everything else (migrations, queries, the worker subprocess, which uses the real settings) is
the stock backend.
"""

from django.db.backends.postgresql import base, operations


class DatabaseOperations(operations.DatabaseOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if not tables or reset_sequences or allow_cascade:
            return super().sql_flush(style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        return [f"{style.SQL_KEYWORD('DELETE FROM')} {style.SQL_FIELD(self.quote_name(table))};" for table in tables]


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
