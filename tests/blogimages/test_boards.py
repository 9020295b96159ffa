"""Boards: private by default, shared with staff or by an unguessable, revocable link that shows
only approved images (and prompts only when the owner allows); adding from every page; auto-add."""

import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from blogimages import boards, generation, review
from blogimages.models import Board, BoardVisibility, ImageOutput
from tests.blogimages.views.helpers import HX, make_editor
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def card(user, text="A lighthouse at dusk", seed=11, **overrides):
    [output] = generation.generate(prompt=text, provider="cards", user=user,
                                   overrides={"seed": seed, "width": 160, "height": 120, **overrides})
    assert output.status == "succeeded", output.error
    return output


@pytest.fixture
def owner():
    return make_editor("owner")


@pytest.fixture
def owner_client(owner):
    client = Client()
    client.force_login(owner)
    return client


def test_a_board_is_private_by_default_and_invisible_to_others(owner):
    board = boards.create_board(owner=owner, name="Coast")
    assert board.visibility == BoardVisibility.PRIVATE and board.share_token == ""
    other_staff = make_editor("other")
    outsider = UserFactory(username="outsider")
    assert list(boards.visible_boards(owner)) == [board]
    assert not boards.visible_boards(other_staff).exists() and not boards.visible_boards(outsider).exists()
    boards.update_board(board, user=owner, visibility="staff")
    assert list(boards.visible_boards(other_staff)) == [board]
    assert not boards.visible_boards(outsider).exists(), "staff-shared is not shared with non-staff"
    with pytest.raises(PermissionDenied):
        boards.update_board(board, user=other_staff, name="Mine now")


def test_names_are_required_and_unique_per_owner(owner):
    boards.create_board(owner=owner, name="Coast")
    with pytest.raises(ValidationError, match="already have a board"):
        boards.create_board(owner=owner, name="  Coast ")
    with pytest.raises(ValidationError, match="needs a name"):
        boards.create_board(owner=owner, name="   ")
    boards.create_board(owner=make_editor("someone"), name="Coast")  # another owner may


def test_link_tokens_are_new_each_time_and_gone_when_revoked(owner):
    board = boards.create_board(owner=owner, name="Coast", visibility="link")
    first = board.share_token
    assert len(first) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", first)
    boards.update_board(board, user=owner, name="Coast 2")
    assert board.share_token == first, "renaming keeps the link"
    boards.update_board(board, user=owner, visibility="private")
    assert board.share_token == "" and boards.shared_board(first) is None
    boards.update_board(board, user=owner, visibility="link")
    assert board.share_token not in ("", first) and boards.shared_board(first) is None
    assert boards.shared_board(board.share_token) == board


def test_add_remove_cover_and_unknown_ids(owner):
    board = boards.create_board(owner=owner, name="Coast")
    one, two = card(owner, seed=1), card(owner, seed=2)
    assert boards.add_images(board, [one, two.pk], user=owner) == sorted([one.pk, two.pk])
    assert boards.add_images(board, [one], user=owner) == [], "already there"
    board.refresh_from_db()
    assert board.cover_id in (one.pk, two.pk)
    with pytest.raises(ValidationError, match="No image with id 999999"):
        boards.add_images(board, [999999], user=owner)
    cover = board.cover_id
    assert boards.remove_images(board, [cover], user=owner) == [cover]
    board.refresh_from_db()
    assert board.cover_id == ({one.pk, two.pk} - {cover}).pop(), "the cover moves to an image still there"
    with pytest.raises(ValidationError, match="one of the board's images"):
        boards.update_board(board, user=owner, cover=cover)
    assert ImageOutput.objects.filter(pk=cover).exists(), "removing never deletes the image"


def test_auto_add_collects_new_generations_while_set_one_board_at_a_time(owner):
    first = boards.create_board(owner=owner, name="Inbox", auto_add=True)
    made = card(owner, seed=3)
    assert list(boards.board_images(first)) == [made]
    second = boards.create_board(owner=owner, name="Other inbox", auto_add=True)
    first.refresh_from_db()
    assert not first.auto_add and second.auto_add
    later = card(owner, seed=4)
    assert list(boards.board_images(second)) == [later] and list(boards.board_images(first)) == [made]
    boards.update_board(second, user=owner, auto_add=False)
    card(owner, seed=5)
    assert boards.board_images(second).count() == 1
    card(make_editor("someone"), seed=6)
    assert boards.board_images(first).count() == 1, "another user's images never join"


def test_done_when_a_public_link_shows_only_approved_images_and_revoking_makes_it_404(owner, owner_client):
    # The owner makes a private board on the page, adds images from the gallery, then shares it by link.
    response = owner_client.post("/images/boards/", {"name": "Coast", "visibility": "private"})
    board = Board.objects.get(owner=owner, name="Coast")
    assert response.status_code == 302 and response["Location"] == f"/images/boards/{board.pk}/"
    approved, pending, rejected = card(owner, "Approved harbour", 1), card(owner, "Pending dunes", 2), \
        card(owner, "Rejected gull", 3)
    review.approve(approved, user=owner)
    review.reject(rejected, user=owner, reason="off-brand")
    response = owner_client.post("/images/bulk/", {"action": "board_add", "board": board.pk,
                                                   "ids": [approved.pk, pending.pk, rejected.pk]}, **HX)
    assert response.status_code == 200 and "Added 3 images to “Coast”" in response.content.decode()
    response = owner_client.post(f"/images/boards/{board.pk}/settings/",
                                 {"name": "Coast", "visibility": "link"})
    board.refresh_from_db()
    assert response.status_code == 302 and board.share_token
    link = f"/boards/s/{board.share_token}/"
    assert link in owner_client.get(f"/images/boards/{board.pk}/").content.decode()

    anonymous = Client()
    page = anonymous.get(link)
    html = page.content.decode()
    assert page.status_code == 200 and page["Cache-Control"] == "private, no-store"
    assert f'data-output="{approved.pk}"' in html
    assert f'data-output="{pending.pk}"' not in html and f'data-output="{rejected.pk}"' not in html
    assert "Approved harbour" not in html, "no prompts unless the owner allows it"
    assert "/images/media/" not in html and "harbour" not in html, "no storage names: they spell the prompt"
    full = f"{link}{approved.uid}/full/"
    thumb = f"{link}{approved.uid}/thumb/"
    assert f'href="{full}"' in html and f'src="{thumb}"' in html
    served = anonymous.get(full)
    assert served.status_code == 200 and b"".join(served.streaming_content)[:4] == b"\x89PNG"
    assert served["Referrer-Policy"] == "no-referrer"
    assert anonymous.get(f"{link}{pending.uid}/full/").status_code == 404, "not approved: not served"
    assert anonymous.get(f"/images/{approved.pk}/").status_code == 302, "the rest of the app still needs a login"

    owner_client.post(f"/images/boards/{board.pk}/settings/",
                      {"name": "Coast", "visibility": "link", "share_details": "1"})
    assert "Approved harbour" in anonymous.get(link).content.decode()

    response = owner_client.post(f"/images/boards/{board.pk}/settings/", {"name": "Coast", "visibility": "private"})
    assert response.status_code == 302
    assert anonymous.get(link).status_code == 404
    assert anonymous.get(full).status_code == 404 and anonymous.get(thumb).status_code == 404, \
        "revoking the link stops its images too"
    assert anonymous.get("/boards/s/not-a-token/").status_code == 404


def test_a_private_board_link_never_works_and_others_cannot_open_or_filter_by_it(owner):
    board = boards.create_board(owner=owner, name="Secret")
    image = card(owner, seed=9)
    boards.add_images(board, [image], user=owner)
    other = Client()
    other.force_login(make_editor("other"))
    assert other.get(f"/images/boards/{board.pk}/").status_code == 404
    html = other.get(f"/images/?board={board.pk}").content.decode()
    assert f'<option value="{board.pk}"' not in html
    response = other.post("/images/boards/images/", {"board": board.pk, "ids": [image.pk], "action": "remove"})
    assert response.status_code == 302 and boards.board_images(board).count() == 1


def test_the_gallery_filters_by_board_and_the_detail_page_adds_to_one(owner, owner_client):
    board = boards.create_board(owner=owner, name="Picks")
    inside, outside = card(owner, "Inside the board", 1), card(owner, "Outside the board", 2)
    response = owner_client.post("/images/boards/images/", {"board": board.pk, "ids": [inside.pk], "action": "add",
                                                            "next": f"/images/{inside.pk}/"})
    assert response.status_code == 302 and response["Location"] == f"/images/{inside.pk}/"
    detail = owner_client.get(f"/images/{inside.pk}/").content.decode()
    assert f'href="/images/boards/{board.pk}/">Picks</a>' in detail and "Add to board" in detail
    html = owner_client.get(f"/images/?board={board.pk}").content.decode()
    assert f'data-output="{inside.pk}"' in html and f'data-output="{outside.pk}"' not in html
    # A new board straight from the add form.
    owner_client.post("/images/boards/images/", {"new_board": "Fresh", "ids": [outside.pk], "action": "add"})
    assert list(boards.board_images(Board.objects.get(name="Fresh"))) == [outside]


def test_deleting_a_board_keeps_its_images(owner, owner_client):
    board = boards.create_board(owner=owner, name="Gone soon")
    image = card(owner, seed=8)
    boards.add_images(board, [image], user=owner)
    assert owner_client.post(f"/images/boards/{board.pk}/delete/").status_code == 302
    assert not Board.objects.exists() and ImageOutput.objects.filter(pk=image.pk).exists()


def test_the_develop_screen_and_the_chat_offer_add_to_board(owner, owner_client, django_capture_on_commit_callbacks):
    from tests.factories import PostFactory, SectionFactory

    board = boards.create_board(owner=owner, name="Picks")
    post = PostFactory(slug="coast")
    SectionFactory(post=post, key="intro")
    image = generation.generate(prompt="Harbour", provider="cards", user=owner, post=post, section_key="intro",
                                overrides={"seed": 4, "width": 160, "height": 90})[0]
    develop = owner_client.get("/posts/coast/develop/").content.decode()
    assert 'action="/images/boards/images/"' in develop and f'name="ids" value="{image.pk}"' in develop
    thread_url = owner_client.post("/images/chat/", {"title": "Lighthouse"})["Location"]
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(thread_url + "messages/", {"message": "a red lighthouse"})
    html = owner_client.get(thread_url).content.decode()
    chat_image = ImageOutput.objects.exclude(pk=image.pk).get()
    assert chat_image.status == "succeeded"
    assert 'action="/images/boards/images/"' in html and f'name="ids" value="{chat_image.pk}"' in html
    response = owner_client.post("/images/boards/images/", {"board": board.pk, "ids": [chat_image.pk],
                                                            "next": thread_url})
    assert response["Location"] == thread_url and list(boards.board_images(board)) == [chat_image]


def test_boards_and_runs_in_the_admin(owner):
    board = boards.create_board(owner=owner, name="Admin view", visibility="link")
    card(owner, seed=12)
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)
    for url in ("/admin/blogimages/board/", f"/admin/blogimages/board/{board.pk}/change/",
                "/admin/blogimages/promptrun/"):
        assert client.get(url).status_code == 200, url
