"""The gallery: filters in the URL, pagination and infinite scroll, constant queries; detail, download, delete."""

import datetime as dt
import json
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from blogimages import generation
from blogimages.models import ImageOutput, ReviewAction, ReviewEvent
from tests.factories import ImageOutputFactory, PostFactory, UserFactory

from .helpers import hx, make_editor

pytestmark = pytest.mark.django_db

GALLERY = reverse("blogimages:gallery")


def finished(n: int = 1, **fields) -> list[ImageOutput]:
    """Succeeded rows with (fake) file names: the grid only needs names for URLs."""
    outputs = []
    for i in range(n):
        output = ImageOutputFactory(status="succeeded", file=f"blogimages/tests/x/{i}.png",
                                    thumbnail=f"blogimages/tests/x/{i}.thumb.webp", width=1600, height=900,
                                    **fields)
        outputs.append(output)
    return outputs


def ids(response) -> list[int]:
    return [o.pk for o in response.context["outputs"]]


# A file's URL is a signed link whose token holds its expiry: the page and the assertion share one frozen instant.
@pytest.mark.clock
def test_grid_shows_thumbnails_lazily_never_originals(editor_client):
    [output] = finished()
    html = editor_client.get(GALLERY).content.decode()
    assert f'src="{output.thumbnail.url}" loading="lazy" decoding="async" width="384" height="216"' in html
    # The original is fetched only when the lightbox opens it (data-full), never by the grid.
    assert f'src="{output.file.url}"' not in html and f'data-full="{output.file.url}"' in html


def test_newest_first(editor_client):
    old, new = finished(2)
    ImageOutput.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=1))
    assert ids(editor_client.get(GALLERY)) == [new.pk, old.pk]


def test_each_filter_narrows_the_results(editor_client):
    post, other_post = PostFactory(title="Coast"), PostFactory(title="Hills")
    lighthouse = finished(prompt_text="A lighthouse at dusk", provider="cards", model="cards", post=post,
                          section_key="intro")[0]
    harbour = finished(prompt_text="A harbour in fog", provider="test", model="recorder-xl",
                       review_status="approved", post=other_post)[0]
    old = finished(prompt_text="An old harbour", provider="test", model="recorder")[0]
    ImageOutput.objects.filter(pk=old.pk).update(created_at=timezone.make_aware(dt.datetime(2020, 5, 17, 12)))

    assert set(ids(editor_client.get(GALLERY))) == {lighthouse.pk, harbour.pk, old.pk}
    assert ids(editor_client.get(GALLERY, {"q": "lighthouse"})) == [lighthouse.pk]
    assert set(ids(editor_client.get(GALLERY, {"q": "harbour"}))) == {harbour.pk, old.pk}
    assert ids(editor_client.get(GALLERY, {"post": post.pk})) == [lighthouse.pk]
    assert set(ids(editor_client.get(GALLERY, {"provider": "test"}))) == {harbour.pk, old.pk}
    assert ids(editor_client.get(GALLERY, {"model": "recorder-xl"})) == [harbour.pk]
    assert ids(editor_client.get(GALLERY, {"review_status": "approved"})) == [harbour.pk]
    assert ids(editor_client.get(GALLERY, {"date_to": "2020-05-17"})) == [old.pk]
    assert set(ids(editor_client.get(GALLERY, {"date_from": "2020-05-18"}))) == {lighthouse.pk, harbour.pk}
    assert ids(editor_client.get(GALLERY, {"date_from": "2020-05-17", "date_to": "2020-05-17"})) == [old.pk]
    assert ids(editor_client.get(GALLERY, {"q": "harbour", "provider": "test", "model": "recorder"})) == [old.pk]


def test_filter_form_shows_the_current_filters_and_choices(editor_client):
    post = PostFactory(title="Coast")
    finished(provider="cards", model="cards", post=post)
    html = editor_client.get(GALLERY, {"q": "light", "provider": "cards", "post": post.pk}).content.decode()
    assert 'name="q" value="light"' in html
    assert '<option value="cards" selected>cards</option>' in html
    assert f'<option value="{post.pk}" selected>Coast</option>' in html
    assert 'hx-push-url="true"' in html and 'hx-get="/images/"' in html


def test_filtered_view_is_a_bookmark_and_pages_keep_the_filters(editor_client):
    finished(30, provider="cards")
    finished(3, provider="test")
    response = editor_client.get(GALLERY, {"provider": "cards", "per_page": 10, "junk": "x"})
    assert response.context["page"].count == 30 and response.context["page"].num_pages == 3
    next_url = response.context["next_url"]
    assert next_url.startswith("?provider=cards&per_page=10&cursor=") and next_url.endswith("&page=2")
    assert response.context["bookmark_url"] == "/images/?provider=cards&per_page=10"
    html = response.content.decode()
    assert f'hx-get="{next_url.replace("&", "&amp;")}" hx-trigger="revealed"' in html
    page2 = editor_client.get(GALLERY + next_url)
    page3 = editor_client.get(GALLERY + page2.context["next_url"])
    assert len(ids(page3)) == 10 and page3.context["next_url"] == ""
    assert len(set(ids(response)) | set(ids(page2)) | set(ids(page3))) == 30
    back = editor_client.get(GALLERY + page3.context["previous_url"])
    assert ids(back) == ids(page2) and back.context["page"].number == 2
    assert back.context["previous_url"] == "?provider=cards&per_page=10"
    # A bookmarked page number is the same page, found by its ids.
    assert ids(editor_client.get(GALLERY, {"provider": "cards", "per_page": 10, "page": 3})) == ids(page3)
    assert editor_client.get(GALLERY, {"cursor": "forged"}).status_code == 400
    # Out-of-range and nonsense pages fall back to a real page.
    assert editor_client.get(GALLERY, {"page": "999"}).status_code == 200
    assert editor_client.get(GALLERY, {"page": "abc"}).status_code == 200


def test_infinite_scroll_fragment_is_the_next_pages_items(editor_client):
    outputs = finished(15)
    response = editor_client.get(GALLERY, {"per_page": 10, "page": 2}, **hx("gallery-next-2"))
    html = response.content.decode()
    assert "<html" not in html and 'id="gallery-filters"' not in html and "<ul" not in html
    assert html.count('class="thumb"') == 5 and 'hx-trigger="revealed"' not in html
    assert set(ids(response)) == {o.pk for o in outputs[:5]}


def test_filter_fragment_is_the_results_block(editor_client):
    finished(3)
    response = editor_client.get(GALLERY, {"q": "lighthouse", "post": "", "provider": ""}, **hx("gallery-results"))
    html = response.content.decode()
    assert "<html" not in html and 'id="gallery-grid"' in html and "3 images match these filters" in html
    assert response["HX-Push-Url"] == "/images/?q=lighthouse"
    assert response["Vary"].count("HX-Request") == 1
    # htmx restoring history wants the whole page.
    response = editor_client.get(GALLERY, **hx("gallery-results"), HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert b"<html" in response.content


@pytest.mark.parametrize("per_page", [10, 100])
def test_queries_per_page_do_not_grow_with_the_page_size(editor_client, per_page, django_assert_max_num_queries):
    posts = [PostFactory() for _ in range(3)]
    user = UserFactory()
    originals = []
    for i in range(100):
        originals += finished(post=posts[i % 3], created_by=user, provider="cards" if i % 2 else "test")
    for original in originals[::3]:  # stacked copies: one query for every stack on the page
        finished(2, derived_from=original, derivation="watermark", created_by=user)
    editor_client.get(GALLERY)  # warm the session
    # session, user, count, page, the user's permissions (2), stacks, filter choices (3), presets, boards
    with django_assert_max_num_queries(12):
        response = editor_client.get(GALLERY, {"per_page": per_page})
    assert len(response.context["outputs"]) == per_page
    assert any(o.stack for o in response.context["outputs"])
    with django_assert_max_num_queries(7):
        editor_client.get(GALLERY, {"per_page": per_page, "page": 1}, **hx("gallery-next-1"))


def test_empty_gallery_says_so(editor_client):
    assert b"No images yet" in editor_client.get(GALLERY).content
    assert b"No images match these filters" in editor_client.get(GALLERY, {"q": "zzz"}).content


# -- detail, download, delete -----------------------------------------------------------------


@pytest.fixture
def stored(recorder, editor, _media_root):
    """A real image: file, thumbnail and sidecar in the test's MEDIA_ROOT."""
    [output] = generation.generate(prompt="A lighthouse at dusk", overrides={"width": 40, "height": 30}, user=editor)
    return output


def test_detail_shows_all_metadata_the_sidecar_events_and_derivatives(editor_client, stored, editor):
    child = ImageOutputFactory(derived_from=stored, derivation="watermark", status="failed", error="x")
    ReviewEvent.objects.create(output=stored, actor=editor, action=ReviewAction.APPROVE, note="Looks right")
    response = editor_client.get(reverse("blogimages:image_detail", args=[stored.pk]))
    html = response.content.decode()
    for text in ("A lighthouse at dusk", "<dd>test</dd>", "<dd>recorder</dd>", f"<dd>{stored.seed}</dd>",
                 "<dd>40×30</dd>", stored.sha256, "$0.0400", "editor: Approved — Looks right",
                 f'href="/images/{child.pk}/"', "Download original", "Delete…"):
        assert text in html, text
    sidecar = json.loads(response.context["sidecar"])
    assert sidecar["id"] == stored.pk and sidecar["seed"] == stored.seed
    assert "&quot;generator&quot;: &quot;blogimages&quot;" in html  # pretty-printed and escaped
    child_html = editor_client.get(reverse("blogimages:image_detail", args=[child.pk])).content.decode()
    assert f'href="/images/{stored.pk}/">Image #{stored.pk}</a> (watermark)' in child_html


def test_detail_of_an_image_without_files(editor_client):
    output = ImageOutputFactory(status="failed", error="content refused")
    html = editor_client.get(reverse("blogimages:image_detail", args=[output.pk])).content.decode()
    assert "content refused" in html and "No sidecar file" in html and "Download original" not in html
    assert editor_client.get(reverse("blogimages:image_download", args=[output.pk])).status_code == 404


def test_download_is_the_original_as_an_attachment(editor_client, stored):
    response = editor_client.get(reverse("blogimages:image_download", args=[stored.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    name = Path(stored.file.name).name
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    assert b"".join(response.streaming_content) == stored.file.storage.open(stored.file.name).read()


def test_delete_asks_then_removes_the_row_and_its_files(editor_client, stored, _media_root,
                                                       django_capture_on_commit_callbacks):
    url = reverse("blogimages:image_delete", args=[stored.pk])
    assert b"Delete image" in editor_client.get(url).content
    assert editor_client.get(url).status_code == 200 and ImageOutput.objects.filter(pk=stored.pk).exists()
    paths = [Path(_media_root) / f.name for f in (stored.file, stored.thumbnail, stored.sidecar)]
    assert all(p.exists() for p in paths)
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(url)
    assert response["Location"] == GALLERY
    assert not ImageOutput.objects.filter(pk=stored.pk).exists()
    assert not any(p.exists() for p in paths)


def test_only_the_creator_or_staff_may_delete(client, stored, viewer_client, viewer, _media_root):
    url = reverse("blogimages:image_delete", args=[stored.pk])
    assert viewer_client.get(url).status_code == 403
    assert viewer_client.post(url).status_code == 403
    assert ImageOutput.objects.filter(pk=stored.pk).exists()
    assert b"Delete\xe2\x80\xa6" not in viewer_client.get(reverse("blogimages:image_detail", args=[stored.pk])).content
    own = ImageOutputFactory(created_by=viewer, status="failed", error="x")
    assert viewer_client.post(reverse("blogimages:image_delete", args=[own.pk])).status_code == 302
    other_staff = make_editor("other-editor")
    client.force_login(other_staff)
    assert client.post(url).status_code == 302


def test_filter_choices_are_distinct_in_the_database(django_assert_num_queries):
    from blogimages.views.gallery import filter_choices

    from django.core.cache import cache

    from blogimages.selectors import FILTER_CHOICES_KEY

    cache.delete(FILTER_CHOICES_KEY)  # another test's answer
    finished(5, provider="cards", model="cards")
    finished(2, provider="test", model="")
    with django_assert_num_queries(2) as captured:  # the newest row, one DISTINCT
        choices = filter_choices()
    assert {"cards", "test"} <= set(choices["providers"]) and choices["models"] == ["cards"]
    assert all("created_at" not in q["sql"] for q in captured.captured_queries)
    # The next render reads the cached answer: one primary-key lookup.
    with django_assert_num_queries(1):
        assert filter_choices() == choices
    # A new image: only the rows newer than the cached answer are read again.
    finished(1, provider="sd", model="sdxl")
    with django_assert_num_queries(3) as captured:
        assert "sdxl" in filter_choices()["models"]
    assert '"id" > ' in captured.captured_queries[-1]["sql"]


def test_filter_choices_offer_every_configured_provider(settings):
    from blogimages.selectors import filter_choices

    finished(1, provider="cards", model="cards")
    assert set(settings.BLOGIMAGES_PROVIDERS) <= set(filter_choices()["providers"])


def test_a_tile_offers_use_in_post_to_editors_but_not_for_a_rejected_image(editor_client):
    ok, rejected = finished(2)
    ImageOutput.objects.filter(pk=rejected.pk).update(review_status="rejected")
    html = editor_client.get(GALLERY).content.decode()
    assert f'href="/images/{ok.pk}/use/"' in html and f'href="/images/{rejected.pk}/use/"' not in html


@pytest.mark.clock
def test_the_gallery_tile_is_the_shared_thumb_template(editor_client):
    """gallery.html inlines _thumb.html for speed (views/gallery.with_tile_strings): every tile it
    shows, succeeded, failed and still running, is what _thumb.html renders for that image."""
    import re

    from django.template.loader import render_to_string

    from blogimages.views.common import with_thumb_sizes

    made = [*finished(2), ImageOutputFactory(status="failed", error="The provider refused the prompt."),
            ImageOutputFactory(status="running"),
            *finished(1, prompt_text="A long prompt " * 30)]
    html = editor_client.get(GALLERY).content.decode()
    squash = lambda text: re.sub(r"\s+", " ", text).strip()  # noqa: E731 - indentation differs
    page = squash(html)
    for output in with_thumb_sizes(ImageOutput.objects.filter(pk__in=[o.pk for o in made])):
        tile = squash(render_to_string("blogimages/_thumb.html", {"output": output}))
        assert tile in page, f"image {output.pk}'s tile differs from _thumb.html"


def test_the_grid_reads_without_postgresqls_jit(editor_client):
    """A filtered grid's per-row subquery is costed for every row: PostgreSQL's JIT compiled
    its queries for 150-750 ms at 100,000 images. The grid's reads run with it off."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    finished(3, provider="cards")
    with CaptureQueriesContext(connection) as captured:
        response = editor_client.get(GALLERY, {"q": "prompt", "provider": "cards"})
    assert response.status_code == 200
    statements = [q["sql"] for q in captured.captured_queries]
    first_read = next(i for i, sql in enumerate(statements) if "blogimages_imageoutput" in sql)
    if connection.vendor == "postgresql":
        assert "SET LOCAL jit = off" in statements[:first_read]
    else:
        assert not any("jit" in sql for sql in statements)
    # The unfiltered grid reads an index alone: no transaction spent on it.
    with CaptureQueriesContext(connection) as captured:
        assert editor_client.get(GALLERY, {"per_page": 10}).status_code == 200
    assert not any("jit" in q["sql"] for q in captured.captured_queries)


def test_without_jit_turns_it_off_for_the_reads_inside():
    from django.db import connection

    from blogimages.selectors import without_jit

    with without_jit():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW jit")
                assert cursor.fetchone()[0] == "off"
        assert ImageOutput.objects.count() == 0  # and the reads work as ever
