"""Deleting an approved or chosen image is a review decision (issue 15, hole 1's second half).

The creator of an image may delete it while it is theirs alone; once an editor approved it
or a post slot shows it, only staff with review rights may — through every face (gallery,
gallery bulk, admin, admin bulk action, JSON API, CLI), because the rule is in
`review.delete`. A deletion never leaves a slot blank: the slot gets the newest other approved
image made for it (said to the person), or nothing is deleted.
"""

import io

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from blogimages import review, tokens
from blogimages.models import ImageOutput, ReviewAction
from posts.models import Section
from tests.blogimages.test_review import make_image, make_user
from tests.factories import PostFactory, SectionFactory

pytestmark = pytest.mark.django_db

CREATOR_PERMS = ("view_imageoutput", "delete_imageoutput")
EDITOR_PERMS = ("view_imageoutput", "change_imageoutput", "delete_imageoutput")


@pytest.fixture
def scene(recorder):
    """A post whose 'arrival' section shows an image a (staff, may-delete) author made and an editor approved."""
    post = PostFactory(title="Coast", slug="coast")
    SectionFactory(post=post, key="arrival", heading="Arriving")
    author = make_user(username="author", perms=CREATOR_PERMS)
    editor = make_user(username="editor", perms=EDITOR_PERMS)
    chosen = make_image(post=post, section_key="arrival", user=author)
    review.approve(chosen, user=editor)
    review.assign_to_section(chosen, "arrival", user=editor)
    return post, author, editor, chosen


def shown(post) -> int | None:
    return Section.objects.get(post=post, key="arrival").chosen_image_id


def still_there(post, image) -> bool:
    return ImageOutput.objects.filter(pk=image.pk).exists() and shown(post) == image.pk


# -- the service ---------------------------------------------------------------------------------


def test_a_creator_deletes_their_pending_image_but_not_an_approved_or_chosen_one(scene):
    post, author, editor, chosen = scene
    draft = make_image(post=post, section_key="arrival", user=author)
    assert review.can_delete(author, draft)
    assert review.delete(draft, user=author) == {}
    assert not review.can_delete(author, chosen)
    with pytest.raises(PermissionDenied, match="review"):
        review.delete(chosen, user=author)
    assert still_there(post, chosen)

    # Chosen but not approved (e.g. used in the post as it was): protected too.
    review.reject(chosen, user=editor, reason="off-brand")  # takes it off the section
    picked = make_image(post=post, section_key="arrival", user=author)
    review.approve(picked, user=editor)
    review.assign_to_section(picked, "arrival", user=editor)
    picked.review_status = "pending"
    picked.save(update_fields=["review_status"])
    assert not review.can_delete(author, picked)


def test_a_reviewer_deleting_a_chosen_image_gives_the_slot_the_next_approved_one(scene):
    post, author, editor, chosen = scene
    older = make_image(post=post, section_key="arrival", user=author)
    newer = make_image(post=post, section_key="arrival", user=author)
    make_image(post=post, section_key="arrival", user=author)  # newest, but not approved
    for image in (older, newer):
        review.approve(image, user=editor)
    pk = chosen.pk
    assert review.delete(chosen, user=editor) == {"arrival": newer.pk}
    assert shown(post) == newer.pk and not ImageOutput.objects.filter(pk=pk).exists()
    event = newer.events.get(action=ReviewAction.ASSIGN)
    assert event.actor == editor and event.data["replaces"] == pk
    assert "now shows image #%d" % newer.pk in review.describe_deletion(pk, {"arrival": newer.pk})


def test_a_chosen_image_with_no_approved_successor_is_not_deleted(scene):
    post, _author, editor, chosen = scene
    with pytest.raises(ValueError, match="no other approved image"):
        review.delete(chosen, user=editor)
    assert still_there(post, chosen)


# -- the faces -----------------------------------------------------------------------------------


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_gallery_delete(scene):
    post, author, editor, chosen = scene
    url = reverse("blogimages:image_delete", args=[chosen.pk])
    assert logged_in(author).get(url).status_code == 403
    assert logged_in(author).post(url).status_code == 403
    assert still_there(post, chosen)

    refused = logged_in(editor).post(url, follow=True)
    assert "no other approved image" in refused.content.decode() and still_there(post, chosen)

    successor = make_image(post=post, section_key="arrival", user=author)
    review.approve(successor, user=editor)
    done = logged_in(editor).post(url, follow=True)
    assert f"Slot &#x27;arrival&#x27; now shows image #{successor.pk}" in done.content.decode()
    assert shown(post) == successor.pk


def test_gallery_bulk_delete(scene):
    post, author, editor, chosen = scene
    draft = make_image(post=post, section_key="arrival", user=author)
    data = {"action": "delete", "ids": [chosen.pk, draft.pk], "confirm": "yes"}
    page = logged_in(author).post(reverse("blogimages:gallery_bulk"), data, follow=True)
    assert f"Not deleted: image #{chosen.pk}" in page.content.decode()
    assert still_there(post, chosen) and not ImageOutput.objects.filter(pk=draft.pk).exists()


def test_admin_delete_and_bulk_delete_action(scene):
    post, author, editor, chosen = scene
    url = reverse("admin:blogimages_imageoutput_delete", args=[chosen.pk])
    assert logged_in(author).post(url, {"post": "yes"}).status_code == 403
    changelist = reverse("admin:blogimages_imageoutput_changelist")
    action = {"action": "delete_selected", "_selected_action": [chosen.pk], "post": "yes"}
    assert logged_in(author).post(changelist, action).status_code == 403
    assert still_there(post, chosen)

    # The editor may, but the slot has no other approved image: refused with the reason, nothing lost.
    page = logged_in(editor).post(url, {"post": "yes"}, follow=True)
    assert "was not deleted" in page.content.decode() and still_there(post, chosen)
    page = logged_in(editor).post(changelist, action, follow=True)
    text = page.content.decode()
    assert f"Not deleted: image #{chosen.pk}" in text and "Successfully deleted" not in text
    assert still_there(post, chosen)

    from django.contrib.admin.models import DELETION, LogEntry

    assert not LogEntry.objects.filter(action_flag=DELETION).exists()  # nothing deleted, nothing logged as deleted
    successor = make_image(post=post, section_key="arrival", user=author)
    review.approve(successor, user=editor)
    page = logged_in(editor).post(changelist, action, follow=True)
    assert f"now shows image #{successor.pk}" in page.content.decode() and shown(post) == successor.pk
    assert list(LogEntry.objects.filter(action_flag=DELETION).values_list("object_id", flat=True)) == [str(chosen.pk)]


def test_json_api_delete(scene):
    post, author, editor, chosen = scene

    def delete(user, image):
        bearer = {"Authorization": f"Bearer {tokens.create_token(user)[1]}"}
        return Client().delete(f"/api/images/{image.pk}", headers=bearer)

    answer = delete(author, chosen)
    assert answer.status_code == 403 and "review" in answer.json()["detail"]
    answer = delete(editor, chosen)
    assert answer.status_code == 409 and "no other approved image" in answer.json()["detail"]
    assert still_there(post, chosen)

    successor = make_image(post=post, section_key="arrival", user=author)
    review.approve(successor, user=editor)
    answer = delete(editor, chosen)
    assert answer.status_code == 200
    assert answer.json()["replaced"] == {"arrival": successor.pk} and answer.json()["deleted"] == chosen.pk
    draft = make_image(post=post, section_key="arrival", user=author)
    assert delete(author, draft).status_code == 200 and not ImageOutput.objects.filter(pk=draft.pk).exists()


def test_cli_delete(scene):
    post, author, editor, chosen = scene
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 of 1 image not deleted"):
        call_command("delete_images", str(chosen.pk), "--user", "author", stderr=err)
    assert "review" in err.getvalue() and still_there(post, chosen)

    successor = make_image(post=post, section_key="arrival", user=author)
    review.approve(successor, user=editor)
    out = io.StringIO()
    call_command("delete_images", str(chosen.pk), "--user", "editor", stdout=out)
    assert f"now shows image #{successor.pk}" in out.getvalue() and shown(post) == successor.pk
    with pytest.raises(CommandError, match="No user"):
        call_command("delete_images", str(successor.pk), "--user", "nobody")
