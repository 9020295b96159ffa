"""/api/boards: create, list, get, patch (visibility private revokes the link, link makes a new one),
delete, and adding/removing images by `image_ids` — through a real API token."""

import pytest
from django.test import Client

from blogimages import generation, review, tokens
from blogimages.models import Board
from tests.blogimages.views.helpers import make_editor
from tests.factories import ImageOutputFactory, UserFactory

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


# -- GET /api/images?board=<id>, and the phash / reused_from fields ----------------------------------

def test_the_image_list_filters_by_a_board_the_caller_may_see(api, owner):
    on_board, elsewhere = card(owner, 31), card(owner, 32)
    board = api("post", "/boards", {"name": "Coast"}).json()
    api("post", f"/boards/{board['id']}/images", {"image_ids": [on_board.pk]})
    response = api("get", f"/images?board={board['id']}")
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["items"]] == [on_board.pk]
    assert {item["id"] for item in api("get", "/images").json()["items"]} >= {on_board.pk, elsewhere.pk}
    # Someone else's private board: the same 404 as a board that does not exist, nothing listed.
    stranger = Api(make_editor("stranger"))
    for who, board_id in ((stranger, board["id"]), (api, 999999)):
        refused = who("get", f"/images?board={board_id}")
        assert refused.status_code == 404 and refused.json() == {
            "detail": f"No board with id {board_id}.", "code": "not_found"}
    assert api("get", "/images?board=abc").status_code == 422
    # Shared with staff: staff may list it (as they may open it); a non-staff user may not.
    api("patch", f"/boards/{board['id']}", {"visibility": "staff"})
    assert [i["id"] for i in stranger("get", f"/images?board={board['id']}").json()["items"]] == [on_board.pk]
    assert Api(UserFactory(username="reader"))("get", f"/images?board={board['id']}").status_code == 404


def test_the_next_page_keeps_the_board_filter(api, owner):
    made = [card(owner, seed) for seed in range(40, 45)]
    card(owner, 46)  # not on the board
    board = api("post", "/boards", {"name": "Coast"}).json()
    api("post", f"/boards/{board['id']}/images", {"image_ids": [o.pk for o in made]})
    first = api("get", f"/images?board={board['id']}&limit=3").json()
    assert f"board={board['id']}" in first["next"]
    rest = api.client.get(first["next"].replace("http://testserver", ""), headers=api.headers).json()
    assert {i["id"] for i in first["items"]} | {i["id"] for i in rest["items"]} == {o.pk for o in made}


def test_images_carry_their_phash_and_what_they_reuse(api, owner):
    first = card(owner, 51)
    again = card(owner, 51)  # an identical cards request: answered from storage
    assert again.reused_from_id == first.pk
    items = {item["id"]: item for item in api("get", "/images").json()["items"]}
    assert items[again.pk]["reused_from"] == first.pk and items[first.pk]["reused_from"] is None
    assert items[first.pk]["phash"] == first.phash and len(first.phash) == 16
    assert api("get", f"/images/{again.pk}").json()["phash"] == again.phash
    queued = ImageOutputFactory()  # queued: no file, no hash yet
    assert api("get", f"/images/{queued.pk}").json()["phash"] is None, "no hash yet: null, not an empty string"


def test_the_schema_documents_the_board_filter_and_the_new_fields():
    schema = Client().get("/api/openapi.json").json()
    listing = schema["paths"]["/api/images"]["get"]
    assert "board" in {p["name"] for p in listing["parameters"]}
    assert "404" in listing["responses"]
    fields = schema["components"]["schemas"]["ImageOut"]["properties"]
    assert {"phash", "reused_from"} <= set(fields)
    assert "reuses" in fields["reused_from"]["description"]
