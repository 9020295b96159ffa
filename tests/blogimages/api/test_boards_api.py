"""/api/boards: create, list, get, patch (visibility private revokes the link, link makes a new one),
delete, and adding/removing images by `image_ids` — through a real API token."""

import pytest
from django.test import Client

from blogimages import generation, review, tokens
from blogimages.models import Board
from tests.blogimages.views.helpers import make_editor
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


class Api:
    def __init__(self, user) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {tokens.create_token(user)[1]}"}

    def __call__(self, method, path, body=None):
        kwargs = {"headers": self.headers}
        if method != "get":
            kwargs["content_type"] = "application/json"
            if body is not None:
                kwargs["data"] = body
        return getattr(self.client, method)("/api" + path, **kwargs)


@pytest.fixture
def owner():
    return make_editor("owner")


@pytest.fixture
def api(owner):
    return Api(owner)


def card(user, seed):
    [output] = generation.generate(prompt=f"Card {seed}", provider="cards", user=user,
                                   overrides={"seed": seed, "width": 96, "height": 64})
    return output


def test_create_list_get_and_the_fields_named_in_the_issue(api):
    response = api("post", "/boards", {"name": "Coast"})
    assert response.status_code == 201
    body = response.json()
    assert body["visibility"] == "private" and body["share_url"] is None and isinstance(body["id"], int)
    shared = api("post", "/boards", {"name": "Public", "visibility": "link"}).json()
    assert shared["share_url"].startswith("http://testserver/boards/s/")
    listed = api("get", "/boards").json()
    assert listed["count"] == 2 and [b["name"] for b in listed["items"]] == ["Coast", "Public"]
    assert api("get", f"/boards/{body['id']}").json()["name"] == "Coast"


def test_bad_input_is_a_clear_400_and_nothing_is_made(api):
    assert api("post", "/boards", {"name": "X", "visibility": "public"}).status_code == 422
    assert api("post", "/boards", {"name": "   "}).status_code == 422
    api("post", "/boards", {"name": "Coast"})
    response = api("post", "/boards", {"name": "Coast"})
    assert response.status_code == 400 and "already have a board" in response.json()["detail"]
    assert Board.objects.count() == 1


def test_patch_to_private_revokes_the_link_and_link_again_makes_a_new_one(api):
    board = api("post", "/boards", {"name": "Coast", "visibility": "link"}).json()
    old_url = board["share_url"]
    old_path = old_url.removeprefix("http://testserver")
    assert Client().get(old_path).status_code == 200
    patched = api("patch", f"/boards/{board['id']}", {"visibility": "private"}).json()
    assert patched["share_url"] is None and Client().get(old_path).status_code == 404
    again = api("patch", f"/boards/{board['id']}", {"visibility": "link"}).json()
    assert again["share_url"] and again["share_url"] != old_url
    assert Client().get(old_path).status_code == 404
    assert Client().get(again["share_url"].removeprefix("http://testserver")).status_code == 200
    renamed = api("patch", f"/boards/{board['id']}", {"name": "Coastline"}).json()
    assert renamed["share_url"] == again["share_url"], "a PATCH without visibility keeps the link"


def test_images_are_added_and_removed_by_image_ids(api, owner):
    board = api("post", "/boards", {"name": "Coast", "visibility": "link"}).json()
    one, two = card(owner, 1), card(owner, 2)
    review.approve(one, user=owner)
    response = api("post", f"/boards/{board['id']}/images", {"image_ids": [one.pk, two.pk]})
    assert response.status_code == 200
    body = response.json()
    assert sorted(body["changed"]) == sorted([one.pk, two.pk]) and body["board"]["image_count"] == 2
    assert body["board"]["cover"] in (one.pk, two.pk)
    assert api("post", f"/boards/{board['id']}/images", {"image_ids": [one.pk]}).json()["changed"] == []
    html = Client().get(board["share_url"].removeprefix("http://testserver")).content.decode()
    assert f'data-output="{one.pk}"' in html and f'data-output="{two.pk}"' not in html, "approved only"
    missing = api("post", f"/boards/{board['id']}/images", {"image_ids": [999999]})
    assert missing.status_code == 400 and "999999" in missing.json()["detail"]
    removed = api("delete", f"/boards/{board['id']}/images", {"image_ids": [two.pk]}).json()
    assert removed["changed"] == [two.pk] and removed["image_ids"] == [one.pk]
    assert api("post", f"/boards/{board['id']}/images", {"image_ids": []}).status_code == 422


def test_others_cannot_see_change_or_fill_a_board(api, owner):
    board = api("post", "/boards", {"name": "Mine"}).json()
    other_staff, outsider = Api(make_editor("other")), Api(UserFactory(username="outsider"))
    for caller in (other_staff, outsider):
        assert caller("get", f"/boards/{board['id']}").status_code == 404
        assert caller("patch", f"/boards/{board['id']}", {"name": "x"}).status_code == 404
        assert caller("delete", f"/boards/{board['id']}").status_code == 404
    api("patch", f"/boards/{board['id']}", {"visibility": "staff"})
    assert other_staff("get", f"/boards/{board['id']}").status_code == 200
    assert outsider("get", f"/boards/{board['id']}").status_code == 404
    refused = other_staff("post", f"/boards/{board['id']}/images", {"image_ids": [card(owner, 3).pk]})
    assert refused.status_code == 403
    assert other_staff("delete", f"/boards/{board['id']}").status_code == 403
    assert Client().get("/api/boards").status_code == 401


def test_delete_removes_the_board_not_its_images(api, owner):
    board = api("post", "/boards", {"name": "Gone"}).json()
    image = card(owner, 4)
    api("post", f"/boards/{board['id']}/images", {"image_ids": [image.pk]})
    assert api("delete", f"/boards/{board['id']}").status_code == 204
    assert api("get", f"/boards/{board['id']}").status_code == 404
    image.refresh_from_db()
