import pytest
from django.core.exceptions import ImproperlyConfigured

from blogimages import slots
from blogimages.integration import PostAdapter, SectionInfo, SlotInfo, SlotKind, slot_size
from blogimages.providers.base import Capabilities


def test_default_sizes_by_kind_and_the_setting_override(settings):
    assert slot_size(SlotInfo(key="featured", label="F", kind=SlotKind.FEATURED)) == (1536, 864)
    assert slot_size(SlotInfo(key="social", label="S", kind=SlotKind.SOCIAL)) == (1200, 630)
    assert slot_size(SlotInfo(key="intro", label="I")) == (1536, 864)
    settings.BLOGIMAGES_SLOT_SIZES = {"section": [1200, 800], "intro": [800, 800]}
    assert slot_size(SlotInfo(key="intro", label="I")) == (800, 800)
    assert slot_size(SlotInfo(key="other", label="O")) == (1200, 800)


def test_slot_sizes_from_the_environment(monkeypatch):
    import config.settings as conf

    monkeypatch.setenv("BLOGIMAGES_SLOT_SIZES", "featured=1600x900, social=1200x630")
    assert conf._slot_sizes_from_env() == {"featured": [1600, 900], "social": [1200, 630]}
    monkeypatch.setenv("BLOGIMAGES_SLOT_SIZES", "featured=wide")
    with pytest.raises(ImproperlyConfigured, match="name=WIDTHxHEIGHT"):
        conf._slot_sizes_from_env()


def test_a_host_with_only_section_methods_gets_one_slot_per_section():
    assigned = []

    class OldAdapter(PostAdapter):
        def sections(self, post):
            return [SectionInfo(key="a", heading="Alpha", text="x")]

        def assign_image(self, post, section_key, image):
            assigned.append((section_key, image))

        def chosen_images(self, post):
            return {"a": 7}

    adapter = OldAdapter()
    [slot] = adapter.slots(None)
    assert (slot.key, slot.label, slot.kind, slot.heading, slot.text) == ("a", "Alpha", "section", "Alpha", "x")
    adapter.assign_slot_image(None, "a", "img")
    assert assigned == [("a", "img")] and adapter.chosen_slot_images(None) == {"a": 7}


@pytest.mark.parametrize(("text", "size"), [
    ("Format: wide blog header", (1536, 864)), ("square", (1024, 1024)), ("a tall poster", (864, 1536)),
    ("portrait", (1024, 1536)), ("banner", (1536, 512)),
])
def test_shape_words_in_format_pick_the_aspect(text, size):
    chosen = slots.size_for_slot(SlotInfo(key="intro", label="I"), format_text=text)
    assert (chosen.width, chosen.height) == size and chosen.reason == "format"
    assert "in Format" in chosen.label


def test_nearest_allowed_size_keeps_the_aspect():
    fixed = Capabilities(sizes=((1024, 1024), (1536, 1024), (1024, 1536)))
    assert slots.nearest_allowed(fixed, 1536, 864) == (1536, 1024)
    assert slots.nearest_allowed(fixed, 864, 1536) == (1024, 1536)
    ranged = Capabilities(min_size=64, max_size=1024, size_multiple=64)
    width, height = slots.nearest_allowed(ranged, 1536, 864)
    assert width == 1024 and height % 64 == 0 and abs(width / height - 16 / 9) < 0.1
    # A provider with a few fixed sizes makes 1536x1024, which generation crops to the slot's 1536x864.
    chosen = slots.size_for_slot(SlotInfo(key="featured", label="F", kind="featured"), caps=fixed)
    assert (chosen.width, chosen.height, chosen.target) == (1536, 864, None)
    # Only a size nothing can be fitted to falls back to the nearest size the provider makes.
    tiny = Capabilities(sizes=((256, 256),))
    chosen = slots.size_for_slot(SlotInfo(key="featured", label="F", kind="featured"), caps=tiny)
    assert (chosen.width, chosen.height, chosen.target) == (256, 256, (1536, 864))


@pytest.mark.django_db
def test_slot_images_are_stored_at_exactly_the_slots_size_on_a_fixed_size_provider(settings):
    from blogimages import generation
    from blogimages.models import ImagePrompt

    settings.BLOGIMAGES_PROVIDERS = {"fixed": {"BACKEND": "tests.blogimages.test_slots.FixedSizes", "OPTIONS": {}}}
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "fixed"
    social = slots.size_for_slot(SlotInfo(key="social", label="S", kind="social"),
                                 caps=FixedSizes(alias="fixed").capabilities())
    [output] = generation.generate(prompt=ImagePrompt(description="A card"),
                                   overrides={"width": social.width, "height": social.height})
    assert output.status == "succeeded", output.error
    assert (output.width, output.height) == (1200, 630)
    snapshot = output.setting_snapshot
    assert (snapshot["width"], snapshot["height"]) == (1536, 1024)  # what the provider made
    assert (snapshot["requested_width"], snapshot["requested_height"]) == (1200, 630)


from blogimages.providers.testing import RecordingProvider  # noqa: E402


class FixedSizes(RecordingProvider):
    """A provider that makes only the three GPT-image sizes."""

    def capabilities(self, model: str = ""):
        from dataclasses import replace

        return replace(super().capabilities(model), sizes=((1024, 1024), (1536, 1024), (1024, 1536)),
                       min_size=1024, max_size=1536)
