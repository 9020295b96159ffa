"""Runs from the command line: `--user USERNAME` records them for that user (their history,
their images, their auto-add board); without it they are recorded for nobody and staff find
them in /images/history/ under "Unattributed" (`?who=unattributed`), with "Use again"."""

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from blogimages import boards
from blogimages.models import ImageOutput, PromptRun
from tests.blogimages.views.helpers import make_editor
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def generate(*args):
    call_command("generate_image", *args, "-p", "cards", "--size", "96x64", "--seed", "3")


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def run_ids(html):
    import re

    return [int(pk) for pk in re.findall(r'data-run="(\d+)"', html)]


def test_cli_with_user_is_in_that_users_history_and_board(capsys):
    editor = make_editor("ed")
    board = boards.create_board(owner=editor, name="Inbox", auto_add=True)
    generate("A lighthouse from the shell", "--user", "ed")
    run = PromptRun.objects.get()
    assert run.user == editor and run.source == "cli"
    [image] = ImageOutput.objects.all()
    assert image.created_by == editor and image.run == run
    assert list(board.entries.values_list("image_id", flat=True)) == [image.pk]
    assert run_ids(logged_in(editor).get("/images/history/").content.decode()) == [run.pk]


@pytest.mark.parametrize("username, message", [("nobody", "no user 'nobody'"), ("sleepy", "not an active user"),
                                               ("  ", "no user")])
def test_cli_with_an_unknown_or_inactive_user_makes_nothing(username, message):
    UserFactory(username="sleepy", is_active=False)
    with pytest.raises(CommandError, match=message):
        generate("A lighthouse", "--user", username)
    assert not PromptRun.objects.exists() and not ImageOutput.objects.exists()


def test_edit_image_with_user_makes_the_edit_as_that_user(capsys):
    editor = make_editor("ed")
    generate("A lighthouse", "--user", "ed")
    source = ImageOutput.objects.get()
    with pytest.raises(CommandError, match="no user 'ghost'"):
        call_command("edit_image", str(source.pk), "make it night", "-p", "cards", "--user", "ghost")
    assert ImageOutput.objects.count() == 1
    call_command("edit_image", str(source.pk), "make it night", "-p", "cards", "--user", "ed")
    edited = ImageOutput.objects.exclude(pk=source.pk).get()
    assert edited.created_by == editor and edited.derived_from == source


def test_unattributed_cli_runs_are_listed_for_staff_only(capsys):
    generate("A lighthouse nobody ran")
    run = PromptRun.objects.get()
    assert run.user is None
    staff, writer = make_editor("staffer"), UserFactory(username="writer")
    generate("Mine", "--user", "staffer")
    mine = PromptRun.objects.get(user=staff)

    page = logged_in(staff).get("/images/history/").content.decode()
    assert run_ids(page) == [mine.pk], "by default your own runs only"
    assert 'name="who"' in page and "Unattributed" in page
    page = logged_in(staff).get("/images/history/?who=unattributed").content.decode()
    assert run_ids(page) == [run.pk] and "Runs recorded for nobody" in page
    assert f"?recall={run.pk}" in page
    tester = logged_in(staff).get(f"/images/test/?recall={run.pk}").content.decode()
    assert "A lighthouse nobody ran" in tester, "staff may use an unattributed run again"

    refused = logged_in(writer).get("/images/history/?who=unattributed")
    html = refused.content.decode()
    assert refused.status_code == 200 and 'id="who-error"' in html and run_ids(html) == []
    assert 'name="who"' not in html
    tester = logged_in(writer).get(f"/images/test/?recall={run.pk}").content.decode()
    assert "A lighthouse nobody ran" not in tester, "and nobody else"
