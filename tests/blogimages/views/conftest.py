import pytest
from django.test import Client

from tests.factories import PostFactory, SectionFactory, UserFactory

from .helpers import make_editor


@pytest.fixture
def editor(db):
    return make_editor()


@pytest.fixture
def viewer(db):
    """Logged in, but no permissions and not staff."""
    return UserFactory(username="viewer")


@pytest.fixture
def editor_client(editor) -> Client:
    client = Client()
    client.force_login(editor)
    return client


@pytest.fixture
def viewer_client(viewer) -> Client:
    client = Client()
    client.force_login(viewer)
    return client


@pytest.fixture
def post(db):
    post = PostFactory(title="Coast", slug="coast", summary="A weekend by the sea", tags="travel")
    SectionFactory(post=post, key="intro", heading="Arriving", body="The harbour at dusk.")
    SectionFactory(post=post, key="pools", heading="Tide pools", body="Starfish and crabs.")
    return post
