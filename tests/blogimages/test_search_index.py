"""The gallery's search has a trigram index on PostgreSQL (migration 0016): it serves the very
expression Django writes for `prompt_text__icontains`, a refused extension leaves a warning
and no failed migration, and `check --database` says when the index is missing."""

from __future__ import annotations

import importlib
import logging

import pytest
from django.db import connection

from blogimages.checks import SEARCH_INDEX, check_search_index
from blogimages.selectors import ImageFilters, gallery_images
from tests.factories import ImageOutputFactory

migration = importlib.import_module("blogimages.migrations.0016_imageoutput_prompt_trigram_index")

pytestmark = pytest.mark.django_db

postgres_only = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="a PostgreSQL index")


def _plan(queryset, *, ordered_scans: bool = True) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        # At a test's few rows any plan would read the table; the question is whether the
        # index can serve the search's condition at all.
        cursor.execute("SET LOCAL enable_seqscan = off")
        if not ordered_scans:
            cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@postgres_only
def test_the_gallery_search_reads_the_trigram_index():
    for i, prompt in enumerate(["A harbour in a storm", "A quiet meadow"]):
        ImageOutputFactory(prompt_text=prompt, status="succeeded", file=f"blogimages/tests/search/{i}.png")
    search = gallery_images(ImageFilters.from_params({"q": "harbour storm"}))

    plan = _plan(search[:24])
    assert f"Bitmap Index Scan on {SEARCH_INDEX}" in plan, plan
    assert [o.prompt_text for o in search] == ["A harbour in a storm"]
    # Any case, any part of a word: what icontains always found.
    assert [o.prompt_text for o in gallery_images(ImageFilters.from_params({"q": "HARB torm"}))] == [
        "A harbour in a storm"]


@postgres_only
def test_the_admin_search_reads_it_too(rf):
    from django.contrib.admin.sites import site

    from blogimages.models import ImageOutput

    model_admin = site._registry[ImageOutput]
    results, _duplicates = model_admin.get_search_results(rf.get("/"), ImageOutput.objects.all(), "harbour storm")
    # Of an empty table the walk down the date index looks cheapest; without it, the choice
    # is between indexes that can find the rows.
    plan = _plan(results.order_by("-created_at", "-id")[:48], ordered_scans=False)
    assert f"Bitmap Index Scan on {SEARCH_INDEX}" in plan, plan


@postgres_only
def test_a_refused_extension_is_a_warning_not_a_failed_migration(caplog):
    class SchemaEditor:
        pass

    editor = SchemaEditor()
    editor.connection = connection
    with caplog.at_level(logging.WARNING, logger="blogimages.migrations"):
        # A real refusal from the server: an extension it does not have.
        built = migration.create_trigram_index(editor, extension="blogimages_no_such_extension")
    assert built is False
    [record] = caplog.records
    assert 'CREATE EXTENSION blogimages_no_such_extension' in record.getMessage()
    assert "migrate blogimages 0015" in record.getMessage()
    # The connection is fine afterwards (no transaction left aborted).
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@postgres_only
def test_check_reports_a_missing_or_invalid_index():
    assert check_search_index(databases=["default"]) == []
    with connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX "{SEARCH_INDEX}"')  # rolled back with the test
    [warning] = check_search_index(databases=["default"])
    assert warning.id == "blogimages.W040" and "missing" in warning.msg
    assert "CREATE EXTENSION pg_trgm" in warning.hint and "migrate blogimages 0015" in warning.hint


def test_no_database_no_check_and_sqlite_has_no_index():
    # A plain `manage.py check` passes no databases: nothing is read.
    assert check_search_index(databases=None) == []
    if connection.vendor == "sqlite":
        assert check_search_index(databases=["default"]) == []

        class SchemaEditor:
            pass

        editor = SchemaEditor()
        editor.connection = connection
        assert migration.create_trigram_index(editor) is False
