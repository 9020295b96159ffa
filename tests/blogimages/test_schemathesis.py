"""Schemathesis against the JSON API's own OpenAPI schema: no generated request, valid or
not, may make the server fail (5xx). Bounded: a few examples per operation, in-process WSGI."""

import uuid

import hypothesis
import pytest
import schemathesis
from django.contrib.auth.models import Permission
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error

from blogimages import tokens
from tests.factories import (
    ImageOutputFactory,
    ImagePromptExampleFactory,
    ImageSettingFactory,
    PostFactory,
    SectionFactory,
    UserFactory,
)

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())


@pytest.fixture
def bearer(transactional_db, recorder, settings):
    """A token with every permission, and a post, setting, example and image for the schema's
    example ids to find. The recording provider (the default here) keeps generation cheap."""
    settings.BLOGIMAGES_RATE_LIMITS = {}
    settings.BLOGIMAGES_RATE_LIMIT_KEY_PREFIX = f"test-rl-{uuid.uuid4().hex}"
    user = UserFactory(username="fuzzer", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="blogimages"))
    post = PostFactory(slug="hello-world")
    SectionFactory(post=post, key="intro")
    ImageSettingFactory(pk=1, width=32, height=32)
    ImagePromptExampleFactory(pk=1)
    ImageOutputFactory(pk=1, status="succeeded", file="a.png", post=post, section_key="intro")
    return {"Authorization": f"Bearer {tokens.create_token(user)[1]}"}


@schema.parametrize()
# derandomize: the same cases every run (CI is reproducible); database=None: no .hypothesis/ folder.
@hypothesis.settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                    database=None)
def test_no_server_errors(case, bearer):
    response = case.call(headers=bearer)
    case.validate_response(response, checks=[not_a_server_error])
