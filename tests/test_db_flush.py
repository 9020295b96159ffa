"""The test process's PostgreSQL backend empties tables after a transactional test with DELETEs
(tests/db_backends/postgresql/base.py): related rows go in any order, and nothing is left."""

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection

from tests.conftest import require_service
from tests.factories import ImageOutputFactory, ImagePromptFactory, PostFactory, SectionFactory, UserFactory


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        require_service("PostgreSQL", "the DELETE flush is the test settings' PostgreSQL backend (set DATABASE_URL)")


def test_the_test_settings_use_the_delete_flush_backend(postgresql):
    assert connection.settings_dict["ENGINE"] == "tests.db_backends.postgresql"
    assert connection.ops.sql_flush(no_style(), ["a", "b"]) == ['DELETE FROM "a";', 'DELETE FROM "b";']


def test_restarting_sequences_or_cascading_keeps_djangos_truncate(postgresql):
    assert connection.ops.sql_flush(no_style(), ["a", "b"], reset_sequences=True) == [
        'TRUNCATE "a", "b" RESTART IDENTITY;']
    assert connection.ops.sql_flush(no_style(), ["a"], allow_cascade=True) == ['TRUNCATE "a" CASCADE;']
    assert connection.ops.sql_flush(no_style(), []) == []


@pytest.mark.django_db(transaction=True)
def test_flush_empties_every_table_whatever_refers_to_what(postgresql):
    post = PostFactory()
    SectionFactory(post=post)
    author = UserFactory()
    # The DELETEs run in table-name order, so auth_user's rows go before the prompt that refers
    # to one of them (the foreign keys are checked at commit, when both are gone).
    ImageOutputFactory(prompt=ImagePromptFactory(source_post=post, author=author), post=post)
    models = [model for model in apps.get_models() if model._meta.managed and not model._meta.proxy]
    assert sum(model.objects.count() for model in models) >= 5

    call_command("flush", interactive=False, verbosity=0, inhibit_post_migrate=True)

    assert {model._meta.label: model.objects.count() for model in models if model.objects.exists()} == {}
    assert get_user_model().objects.count() == 0
