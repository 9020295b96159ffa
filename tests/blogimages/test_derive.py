"""Derived images: watermark, resize, convert, upscale, publish copies, variations."""

import hashlib
import io
import json
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from PIL import Image

from blogimages import derive, storage
from blogimages.imaging import provenance
from blogimages.models import ImageOutput, ReviewEvent, WatermarkPreset
from blogimages.providers import GeneratedImage, GenerationResult
from blogimages.providers.base import Capabilities
from blogimages.providers.testing import RecordingProvider, solid_png
from tests.blogimages.test_review import file_bytes, make_image, make_user, media_files
from tests.conftest import png_bytes
from tests.factories import ImageSettingFactory, PostFactory, SectionFactory

pytestmark = pytest.mark.django_db

AI = provenance.DIGITAL_SOURCE_TYPE_AI


def stem_of(output: ImageOutput) -> str:
    return output.file.name.rsplit(".", 1)[0]


def assert_stored_beside(derived: ImageOutput, original: ImageOutput, suffix: str, extension: str) -> None:
    stem = f"{stem_of(original)}-{suffix}"
    assert derived.file.name == f"{stem}.{extension}"
    assert derived.thumbnail.name == f"{stem}.thumb.webp"
    assert derived.sidecar.name == f"{stem}.json"
    data = file_bytes(derived)
    assert derived.sha256 == hashlib.sha256(data).hexdigest() and derived.bytes == len(data)
    with Image.open(io.BytesIO(data)) as im:
        assert (im.width, im.height) == (derived.width, derived.height)
    with derived.sidecar.open("rb") as fh:
        sidecar = json.load(fh)
    assert sidecar["derived_from"] == original.pk and sidecar["derivation"] == derived.derivation
    assert sidecar["id"] == derived.pk and sidecar["sha256"] == derived.sha256


# -- watermark ------------------------------------------------------------------------------


def test_watermark_makes_a_wm_copy_beside_the_original(recorder):
    original = make_image(size=(200, 120))
    before = file_bytes(original)
    user = make_user()
    copy = derive.watermark_output(original, user=user)

    assert (copy.derived_from, copy.derivation, copy.status) == (original, "watermark", "succeeded")
    assert (copy.prompt_text, copy.provider, copy.seed, copy.post) == (
        original.prompt_text, original.provider, original.seed, original.post)
    assert copy.created_by == user and copy.batch is None
    assert_stored_beside(copy, original, "wm", "png")
    assert file_bytes(original) == before  # never modified
    assert file_bytes(copy) != before
    event = original.events.get()
    assert (event.action, event.actor, event.data["new_output"]) == ("watermark", user, copy.pk)
    assert event.data["spec"]["text"] == "AI-generated" and event.data["preset"] is None

    second = derive.watermark_output(original, spec={"text": "© Blog"})
    assert second.file.name == f"{stem_of(original)}-wm-2.png"


def test_watermark_presets_default_and_overrides(recorder, settings):
    original = make_image(size=(200, 120))
    WatermarkPreset.objects.create(name="corner", spec={"text": "© Corner", "position": "top-left", "opacity": 0.8})
    logo = WatermarkPreset(name="logo", spec={"position": "center", "scale": 0.3})
    logo.logo.save("logo.png", ContentFile(png_bytes(40, 20, color=(20, 40, 90))), save=True)

    by_name = derive.watermark_output(original, preset="corner")
    assert original.events.get(data__new_output=by_name.pk).data["preset"] == "corner"
    assert by_name.provider_metadata["spec"]["position"] == "top-left"

    with_logo = derive.watermark_output(original, preset=logo, opacity=0.4)
    assert with_logo.provider_metadata["spec"]["logo"].endswith("bytes")
    assert with_logo.provider_metadata["spec"]["opacity"] == 0.4

    # No default preset: the setting; then the default preset wins.
    settings.BLOGIMAGES_WATERMARK = {"text": "From settings", "position": "center"}
    assert derive.watermark_output(original).provider_metadata["spec"]["text"] == "From settings"
    WatermarkPreset.objects.filter(name="corner").update(is_default=True)
    assert derive.watermark_output(original).provider_metadata["preset"] == "corner"

    with pytest.raises(ValueError, match="No watermark preset named 'nope'; presets: corner, logo"):
        derive.watermark_output(original, preset="nope")


def test_a_watermark_that_reads_on_dark_and_light(recorder):
    """The mark's tone follows the image: light on dark, dark on light."""
    for color, expect_lighter in (((10, 10, 12), True), ((248, 248, 246), False)):
        recorder.script(png_bytes(400, 200, color=color))
        original = make_image(size=(400, 200))
        copy = derive.watermark_output(original, spec={"text": "AI-generated", "position": "bottom-right",
                                                       "opacity": 0.8})
        with Image.open(io.BytesIO(file_bytes(copy))) as im:
            corner = im.convert("L").crop((280, 150, 400, 200))
            lo, hi = corner.getextrema()
        background = sum(color) / 3
        assert (hi - background > 60) if expect_lighter else (background - lo > 60)


# -- resize, convert, upscale ---------------------------------------------------------------


def test_resize_to_the_blogs_formats_and_custom_sizes(recorder, settings):
    original = make_image(size=(400, 300))
    social = derive.resize_output(original, format_name="social")
    assert (social.width, social.height, social.derivation) == (1200, 630, "resize")
    assert_stored_beside(social, original, "social", "png")
    header = derive.resize_output(original, format_name="header", output_format="jpeg", quality=80)
    assert (header.width / header.height, header.mime_type) == (16 / 9, "image/jpeg")
    assert header.file.name.endswith("-header.jpg")
    square = derive.resize_output(original, format_name="square")
    assert square.width == square.height
    custom = derive.resize_output(original, width=100, height=50, mode="contain")
    assert (custom.width, custom.height) == (100, 50) and custom.file.name.endswith("-100x50.png")
    settings.BLOGIMAGES_IMAGE_FORMATS = {"newsletter": [600, 200]}
    assert derive.resize_output(original, format_name="newsletter").height == 200
    with pytest.raises(ValueError, match="Unknown image format 'poster'"):
        derive.resize_output(original, format_name="poster")
    events = list(original.events.values_list("action", flat=True))
    assert events == ["resize"] * 5


def test_convert_and_upscale(recorder):
    original = make_image(size=(60, 40))
    webp = derive.convert_output(original, output_format="webp")
    assert (webp.mime_type, webp.derivation) == ("image/webp", "convert")
    assert_stored_beside(webp, original, "webp", "webp")
    jpeg = derive.convert_output(original, output_format="jpeg", quality=70)
    assert jpeg.file.name.endswith("-jpeg-q70.jpg") and jpeg.mime_type == "image/jpeg"
    big = derive.upscale_output(original, factor=2)
    assert (big.width, big.height, big.derivation) == (120, 80, "upscale")
    assert_stored_beside(big, original, "x2", "png")
    assert [e.action for e in original.events.order_by("id")] == ["convert", "convert", "upscale"]
    with pytest.raises(ValueError, match="upscale factor"):
        derive.upscale_output(original, factor=20)


def test_derived_files_carry_provenance(recorder):
    original = make_image(size=(120, 80))
    derived = [
        derive.watermark_output(original),
        derive.resize_output(original, format_name="thumbnail"),
        derive.convert_output(original, output_format="jpeg"),
        derive.convert_output(original, output_format="webp"),
        derive.upscale_output(original, factor=1.5),
    ]
    for copy in derived:
        info = provenance.read_provenance(file_bytes(copy))
        assert info["digital_source_type"] == AI, copy.derivation
        assert info["prompt"] == original.prompt_text and info["provider"] == "test"
        assert info["seed"] == original.seed and info["model"] == "recorder"
        assert info["derivation"] == copy.derivation and info["derived_from"] == str(original.uid)
        assert info["image_id"] == str(copy.uid)
    # A copy of a copy still explains itself.
    twice = derive.watermark_output(derived[1])
    assert provenance.read_provenance(file_bytes(twice))["prompt"] == original.prompt_text


def test_publish_copy_strips_the_parameters_but_keeps_the_ai_marker(recorder, settings):
    original = make_image()
    assert derive.publish_copy(original) == original  # the setting is off by default
    settings.BLOGIMAGES_STRIP_PARAMETERS_ON_PUBLISH = True
    copy = derive.publish_copy(original)
    assert copy.derivation == "publish" and copy.derived_from == original
    assert_stored_beside(copy, original, "pub", "png")
    info = provenance.read_provenance(file_bytes(copy))
    assert info["digital_source_type"] == AI
    assert not {"prompt", "seed", "model", "provider", "parameters"} & info.keys()
    assert b"lighthouse" not in file_bytes(copy).lower()
    with copy.sidecar.open("rb") as fh:
        sidecar = json.load(fh)  # it sits beside the published file: no prompt there either
    assert not {"prompt", "negative_prompt", "seed", "parameters", "provider_metadata"} & sidecar.keys()
    assert original.prompt_text not in json.dumps(sidecar) and sidecar["derived_from"] == original.pk
    assert derive.publish_copy(original) == copy  # made once
    assert derive.publish_copy(copy) == copy


def test_a_plain_upload_is_published_as_it_is(recorder, settings):
    from blogimages import review

    settings.BLOGIMAGES_STRIP_PARAMETERS_ON_PUBLISH = True
    upload = review.replace_with_upload(make_image(), png_bytes(), user=make_user())
    assert derive.publish_copy(upload) == upload


# -- failures store nothing -------------------------------------------------------------


def test_failures_store_nothing(recorder, monkeypatch, _media_root):
    original = make_image()
    before = media_files(_media_root)
    with pytest.raises(ValueError, match="opacity"):
        derive.watermark_output(original, spec={"text": "x", "opacity": 2})
    with pytest.raises(ValueError, match="width"):
        derive.resize_output(original, width=0, height=10)
    with pytest.raises(ValueError, match="Unsupported output format"):
        derive.convert_output(original, output_format="gif")

    def broken_sidecar(metadata):
        raise OSError("disk full")

    monkeypatch.setattr(storage, "sidecar_json", broken_sidecar)
    with pytest.raises(OSError, match="disk full"):
        derive.watermark_output(original)
    assert media_files(_media_root) == before
    assert ImageOutput.objects.count() == 1 and not ReviewEvent.objects.exists()


def test_an_image_without_a_file_cannot_be_derived(recorder):
    from tests.factories import ImageOutputFactory

    with pytest.raises(ValueError, match="has no stored file"):
        derive.watermark_output(ImageOutputFactory(status="queued"))


def test_who_may_derive(recorder):
    owner = make_user(staff=False, perms=())
    original = make_image(user=owner)
    with pytest.raises(PermissionDenied):
        derive.watermark_output(original, user=make_user(staff=False, perms=()))
    with pytest.raises(PermissionDenied):
        derive.variations(original, 1, user=make_user(staff=True, perms=("view_imageoutput",)))
    assert derive.watermark_output(original, user=owner).created_by == owner
    assert derive.resize_output(original, user=make_user(), format_name="square").derivation == "resize"
    assert derive.watermark_output(original, user=None).created_by is None  # the system (CLI)


# -- variations ---------------------------------------------------------------------------


def test_more_like_this_reruns_with_new_seeds_and_nearby_settings(recorder, django_capture_on_commit_callbacks):
    setting = ImageSettingFactory(width=64, height=48, steps=30, guidance_scale=7.5)
    original = make_image(setting=setting, overrides={})
    with django_capture_on_commit_callbacks(execute=True):
        new = derive.variations(original, 3, user=make_user())
    assert len(new) == 3
    for item in new:
        item.refresh_from_db()
        assert (item.status, item.derivation, item.derived_from) == ("succeeded", "variation", original)
        assert item.prompt_text == original.prompt_text and item.review_status == "pending"
    requests = recorder.requests[1:]
    assert len({r.seed for r in requests} | {original.seed}) == 4
    assert all(24 <= r.steps <= 36 for r in requests)
    assert all(6.75 <= r.guidance_scale <= 8.25 for r in requests)
    event = original.events.get(action="variation")
    assert event.data["method"] == "reseed" and event.data["new_outputs"] == [o.pk for o in new]


def test_variations_of_a_post_image_stay_in_its_section(recorder, django_capture_on_commit_callbacks):
    post = PostFactory()
    SectionFactory(post=post, key="intro")
    original = make_image(post=post, section_key="intro")
    with django_capture_on_commit_callbacks(execute=True):
        new = derive.variations(original, 2)
    for item in new:
        item.refresh_from_db()
        assert (item.post, item.section_key, item.status) == (post, "intro", "succeeded")
    assert new[0].batch.total == 2


def test_variations_count_is_bounded(recorder):
    original = make_image()
    for n in (0, 5, "2"):
        with pytest.raises(ValueError, match="1 to 4 variations"):
            derive.variations(original, n)


class VariationProvider(RecordingProvider):
    """A provider that makes variations from the image itself, as OpenAI's GPT image models do
    with an edit that takes the image as its reference."""

    def __init__(self, *, alias, options=None):
        super().__init__(alias=alias, options=options)
        self.variation_calls = []

    def capabilities(self, model=""):
        return Capabilities(models=("ref-1",), default_model="ref-1", sizes=((256, 256), (512, 512)),
                            default_size=(256, 256), max_n=10, prices={"*": Decimal("0.02")})

    def variation_models(self):
        return ("ref-1",)

    def create_variation(self, *, image, n, model, size, prompt):
        self.variation_calls.append({"image": image, "n": n, "model": model, "size": size, "prompt": prompt})
        images = tuple(GeneratedImage(data=solid_png(256, 256, 100 + i), mime_type="image/png") for i in range(n))
        # Priced as a provider with a price table prices its call (a result without a cost
        # gives its reservation back).
        return GenerationResult(images=images, model=model, request_id="var-1", cost=Decimal("0.02") * n,
                                cost_basis="estimate")


def test_a_providers_own_variation_endpoint_is_used(settings):
    settings.BLOGIMAGES_PROVIDERS = {"oa": {"BACKEND": "tests.blogimages.test_derive.VariationProvider", "OPTIONS": {}}}
    from blogimages.providers import providers

    original = make_image(provider="oa", size=(256, 256))
    new = derive.variations(original, 2, user=make_user())
    backend = providers["oa"]
    [call] = backend.variation_calls
    assert (call["n"], call["model"], call["size"], call["prompt"]) == (2, "ref-1", "256x256", original.prompt_text)
    with Image.open(io.BytesIO(call["image"])) as sent:
        assert sent.format == "PNG" and sent.size == (256, 256)
    assert len(backend.requests) == 1  # only the original was generated from the prompt
    for item in new:
        assert (item.status, item.derivation, item.derived_from, item.provider) == (
            "succeeded", "variation", original, "oa")
        assert item.setting_snapshot["variation_of"] == str(original.uid)
    assert original.events.get(action="variation").data["method"] == "edit"


def test_an_original_stored_without_provenance_gets_it_in_its_copies(recorder):
    original = make_image()
    legacy = storage.get_storage().save("blogimages/legacy/old.png", ContentFile(png_bytes(80, 40)))
    ImageOutput.objects.filter(pk=original.pk).update(file=legacy)
    original.refresh_from_db()
    assert provenance.read_provenance(file_bytes(original)) == {}
    copy = derive.resize_output(original, width=40, height=20)
    info = provenance.read_provenance(file_bytes(copy))
    assert info["digital_source_type"] == AI and info["prompt"] == original.prompt_text
    assert info["seed"] == original.seed and copy.file.name == "blogimages/legacy/old-40x20.png"


# -- variations are let in like every request: rate limits and the budget reservation -----------


def _variation_state() -> tuple[int, int, set[str]]:
    return (ImageOutput.objects.count(), ReviewEvent.objects.filter(action="variation").count(),
            media_files(storage.get_storage().location) if hasattr(storage.get_storage(), "location") else set())


@pytest.mark.parametrize("provider", ["test", "oa"])
def test_a_variation_over_the_rate_limit_is_refused_with_nothing_stored(recorder, settings, provider):
    from blogimages.ratelimit import RateLimited

    settings.BLOGIMAGES_PROVIDERS = {
        **settings.BLOGIMAGES_PROVIDERS,
        "oa": {"BACKEND": "tests.blogimages.test_derive.VariationProvider", "OPTIONS": {}}}
    original = make_image(provider=provider, size=(256, 256))  # made by nobody: counted for nobody
    user = make_user()
    settings.BLOGIMAGES_RATE_LIMITS = {"user_per_minute": 1}
    [first] = derive.variations(original, 1, user=user)
    assert first.derivation == "variation"
    before = _variation_state()
    with pytest.raises(RateLimited):
        derive.variations(original, 1, user=user)
    assert _variation_state() == before


@pytest.mark.parametrize("provider", ["test", "oa"])
def test_a_variation_over_budget_is_refused_with_nothing_stored(recorder, settings, provider):
    from blogimages.budgets import BudgetExceeded

    settings.BLOGIMAGES_PROVIDERS = {
        **settings.BLOGIMAGES_PROVIDERS,
        "oa": {"BACKEND": "tests.blogimages.test_derive.VariationProvider", "OPTIONS": {}}}
    original = make_image(provider=provider, size=(256, 256))
    user = make_user()
    settings.BLOGIMAGES_RATE_LIMITS = {}
    # Both providers price an image at $0.02–0.04: two fit in $0.09, a third does not.
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.09" if provider == "test" else "0.05"}
    derive.variations(original, 2, user=user)
    before = _variation_state()
    with pytest.raises(BudgetExceeded):
        derive.variations(original, 1, user=user)
    assert _variation_state() == before


@pytest.mark.clock
@pytest.mark.django_db(transaction=True)
def test_concurrent_variations_cannot_overspend(recorder, settings):
    from blogimages import budgets
    from blogimages.budgets import BudgetExceeded
    from tests.concurrent_calls import at_once, require_postgresql

    require_postgresql()
    original = make_image()
    user = make_user()
    settings.BLOGIMAGES_RATE_LIMITS = {}
    settings.BLOGIMAGES_BUDGETS = {"user_daily": "0.20"}  # $0.04 an image: room for 5 of 8

    outcomes = at_once(8, lambda: derive.variations(original, 1, user=user), refused=BudgetExceeded)

    assert outcomes == ["made"] * 5 + ["refused"] * 3
    assert budgets.spent(user=user, period="daily") == Decimal("0.20")
