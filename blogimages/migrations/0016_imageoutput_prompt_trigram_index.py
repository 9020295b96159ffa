"""A trigram index for the gallery's search (PostgreSQL only).

The gallery searches prompts by substring: each word is `prompt_text__icontains`, which
Django writes as `UPPER(prompt_text) LIKE UPPER('%word%')`. No B-tree serves that, so every
search read the whole table: at 100,000 images a two-word search took 95 ms for its page
and 90 ms more for its count. A GIN index of `UPPER(prompt_text)` with pg_trgm's operator
class serves exactly that expression (6.5 and 2.6 ms).

pg_trgm ships with PostgreSQL and is a trusted extension (13+): a database owner may create
it. Where the role may not, or the server lacks the contrib package, the migration says so
and goes on without the index; search still works, by scanning (`manage.py check --database
default` reports it, blogimages.W040, with the fix). Built CONCURRENTLY, so a live site's
table takes writes meanwhile; hence not atomic. Not in the models' state: Django's
migration state has no operator class for an expression over a field, and nothing else
reads or changes this index."""

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger("blogimages.migrations")

INDEX = "imageoutput_prompt_trgm_idx"
TABLE = "blogimages_imageoutput"


def create_trigram_index(schema_editor, *, extension="pg_trgm"):
    """Create the extension if it is missing, then the index; True when the index exists
    (and is valid) afterwards. A refusal is a warning, not a failed migration."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = %s", [extension])
        if cursor.fetchone() is None:
            try:
                # Its own transaction (or savepoint): a refusal leaves the connection usable.
                with transaction.atomic(using=connection.alias):
                    cursor.execute(f'CREATE EXTENSION IF NOT EXISTS "{extension}"')
            except DatabaseError as exc:
                message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                logger.warning(
                    "The gallery's search index was not built: PostgreSQL refused CREATE EXTENSION %s (%s). "
                    "Search works without it, by reading the whole table. As a superuser: CREATE EXTENSION %s; "
                    "then: python manage.py migrate blogimages 0015 && python manage.py migrate",
                    extension, message, extension)
                return False
        # An interrupted CREATE INDEX CONCURRENTLY leaves an invalid index behind that
        # IF NOT EXISTS would keep forever.
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [INDEX])
        row = cursor.fetchone()
        if row is not None and not row[0]:
            cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{INDEX}"')
        cursor.execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{INDEX}" ON "{TABLE}" '
                       f'USING gin (UPPER("prompt_text") gin_trgm_ops)')
    return True


def forwards(apps, schema_editor):
    create_trigram_index(schema_editor)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{INDEX}"')


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('blogimages', '0015_promptrun_seed64'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
