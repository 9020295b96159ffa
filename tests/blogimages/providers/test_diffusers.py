"""The local `diffusers` provider, for real: a tiny random Stable Diffusion pipeline saved with
`save_pretrained` into a temporary folder and loaded through the provider's own loading code
(local_files_only), generating 64×64 images on the CPU."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from tests.conftest import IN_CI

if not IN_CI:
    pytest.importorskip("diffusers", reason="the optional extra: pip install -r requirements-diffusers.txt")

# In CI the extra is installed (.ci/run): a missing one fails here, it is never skipped.
import torch

from blogimages import editing
from blogimages.exceptions import UnsupportedFeature
from blogimages.models import ImageOutput
from blogimages.providers import GenerationRequest, get_provider, local_diffusers
from tests.blogimages.providers.tiny_sd import save_tiny_pipeline

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("diffusers"))


@pytest.fixture
def diffusers_provider(settings, tiny_model):
    settings.BLOGIMAGES_PROVIDERS = {
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
        "diffusers": {"BACKEND": "blogimages.providers.local_diffusers.DiffusersProvider",
                      "OPTIONS": {"model_path": str(tiny_model), "device": "cpu", "dtype": "float32"}},
    }
    return get_provider("diffusers")


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


def stored_pixels(output: ImageOutput) -> bytes:
    with output.file.open("rb") as fh:
        return pixels(fh.read())


def request(**values) -> GenerationRequest:
    return GenerationRequest(**{"prompt": "a red boat", "width": 64, "height": 64, "steps": 2, "seed": 7,
                                "guidance_scale": 5.0, **values})


def test_generate_image_with_p_diffusers_makes_reproducible_64px_images(diffusers_provider, capsys):
    args = ["generate_image", "a red boat at sea", "-p", "diffusers", "--size", "64x64", "--steps", "2"]
    call_command(*args, "--seed", "11")
    call_command(*args, "--seed", "11")
    call_command(*args, "--seed", "12")
    first, again, other = ImageOutput.objects.order_by("pk")
    for output in (first, again, other):
        assert output.status == "succeeded", output.error
        assert (output.width, output.height, output.provider, output.model) == (64, 64, "diffusers", "tiny-sd")
    assert first.seed == again.seed == 11
    assert stored_pixels(first) == stored_pixels(again)  # pixel for pixel
    assert stored_pixels(first) != stored_pixels(other)
    assert first.credentials == {}  # no signer configured here


def test_the_pipeline_is_loaded_once_per_process(diffusers_provider, settings, tiny_model):
    local_diffusers.clear_cache()
    first = diffusers_provider.pipeline()
    assert diffusers_provider.pipeline() is first
    twin = local_diffusers.DiffusersProvider(alias="other", options={"model_path": str(tiny_model), "device": "cpu",
                                                                        "dtype": "float32"})
    assert twin.pipeline() is first


def test_a_batch_has_one_generator_per_image_so_each_seed_reproduces_alone(diffusers_provider):
    batch = diffusers_provider.run(request(n=2, seed=20))
    assert [image.seed for image in batch.images] == [20, 21]
    alone = diffusers_provider.run(request(n=1, seed=21))
    assert pixels(batch.images[1].data) == pixels(alone.images[0].data)


def test_without_a_seed_a_random_one_is_drawn_used_and_recorded(diffusers_provider):
    unseeded = diffusers_provider.run(request(n=2, seed=None))
    first, second = (image.seed for image in unseeded.images)
    assert isinstance(first, int) and 0 <= first <= local_diffusers.MAX_SEED
    assert second == (first + 1) % (local_diffusers.MAX_SEED + 1)  # consecutive, as with a given seed
    # The recorded seed is the one the pipeline ran with: it makes the same pixels again.
    again = diffusers_provider.run(request(n=1, seed=first))
    assert pixels(again.images[0].data) == pixels(unseeded.images[0].data)
    other = diffusers_provider.run(request(n=1, seed=None)).images[0]
    assert other.seed is not None and other.seed != first  # drawn anew (a clash is 1 in 2^32)
    assert pixels(diffusers_provider.run(request(n=1, seed=other.seed)).images[0].data) == pixels(other.data)


def test_negative_prompt_sampler_and_guidance_reach_the_pipeline(diffusers_provider):
    plain = pixels(diffusers_provider.run(request()).images[0].data)
    assert pixels(diffusers_provider.run(request(negative_prompt="fog")).images[0].data) != plain
    euler = diffusers_provider.run(request(sampler="euler"))
    assert euler.images[0].metadata["sampler"] == "euler"
    assert pixels(euler.images[0].data) != plain
    assert type(diffusers_provider.pipeline().scheduler).__name__ == "DDIMScheduler"  # the cached one is unchanged
    with pytest.raises(UnsupportedFeature, match="sampler"):
        diffusers_provider.run(request(sampler="nonsense"))


def test_img2img_changes_the_image_and_inpaint_keeps_the_size(diffusers_provider):
    source = diffusers_provider.run(request(seed=3)).images[0].data
    edited = diffusers_provider.edit(request(seed=3, steps=4), image=source, strength=0.8)
    assert pixels(edited.images[0].data) != pixels(source)
    again = diffusers_provider.edit(request(seed=3, steps=4), image=source, strength=0.8)
    assert pixels(again.images[0].data) == pixels(edited.images[0].data)
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (16, 16, 48, 48))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    painted = diffusers_provider.edit(request(seed=3, steps=4), image=source, mask=buffer.getvalue(), strength=0.9)
    with Image.open(io.BytesIO(painted.images[0].data)) as image:
        assert image.size == (64, 64)
    assert pixels(painted.images[0].data) != pixels(source)


def stored_source(seed: int = 5) -> ImageOutput:
    call_command("generate_image", "a red boat at sea", "-p", "diffusers", "--size", "64x64", "--steps", "2",
                 "--seed", str(seed))
    source = ImageOutput.objects.filter(derivation="").latest("pk")
    assert source.status == "succeeded", source.error
    return source


def change_square_mask() -> bytes:
    """The app's mask convention: opaque = keep, a transparent square in the middle = change."""
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (16, 16, 48, 48))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def test_the_diffusers_provider_can_edit_with_a_mask_and_a_strength(diffusers_provider):
    caps = diffusers_provider.capabilities()
    assert (caps.supports_edit, caps.supports_mask, caps.max_references, caps.supports_strength) == \
        (True, True, 0, True)
    assert "diffusers" in editing.editing_providers()


def test_the_edit_path_makes_a_derived_image_of_the_sources_size(diffusers_provider):
    source = stored_source()
    [edited] = editing.edit(source=source, prompt="a red boat in a storm", strength=0.6, provider="diffusers",
                            overrides={"steps": 4})
    assert edited.status == "succeeded", edited.error
    assert edited.derivation == "edit" and edited.derived_from_id == source.pk
    assert (edited.provider, edited.width, edited.height) == ("diffusers", 64, 64)
    with edited.file.open("rb") as fh, Image.open(io.BytesIO(fh.read())) as image:
        assert image.size == (source.width, source.height)
    assert stored_pixels(edited) != stored_pixels(source)
    assert edited.seed == source.seed  # the edit keeps the source's seed


def test_a_masked_edit_keeps_every_unmasked_pixel(diffusers_provider):
    source = stored_source()
    [edited] = editing.edit(source=source, prompt="a lighthouse", mask=change_square_mask(), strength=0.9,
                            provider="diffusers", overrides={"steps": 4})
    assert edited.status == "succeeded", edited.error
    with source.file.open("rb") as fh:
        before = Image.open(io.BytesIO(fh.read())).convert("RGB")
    with edited.file.open("rb") as fh:
        after = Image.open(io.BytesIO(fh.read())).convert("RGB")
    assert after.size == before.size == (64, 64)
    keep = Image.new("L", (64, 64), 255)
    keep.paste(0, (16, 16, 48, 48))
    outside = [(x, y) for x in range(64) for y in range(64) if keep.getpixel((x, y))]
    assert all(after.getpixel(xy) == before.getpixel(xy) for xy in outside)  # the paste-back
    assert after.crop((16, 16, 48, 48)).tobytes() != before.crop((16, 16, 48, 48)).tobytes()


def test_an_edit_with_the_same_seed_is_made_again_pixel_for_pixel(diffusers_provider):
    source = stored_source()
    made = [editing.edit(source=source, prompt="a red boat in fog", strength=0.6, provider="diffusers",
                         overrides={"steps": 4, "seed": seed})[0] for seed in (40, 40, 41)]
    for output in made:
        assert output.status == "succeeded", output.error
    first, again, other = made
    assert first.seed == again.seed == 40 and other.seed == 41
    assert stored_pixels(first) == stored_pixels(again)
    assert stored_pixels(first) != stored_pixels(other)


def test_a_strength_of_zero_is_refused_before_anything_is_stored(diffusers_provider):
    source = stored_source()
    with pytest.raises(UnsupportedFeature, match="strength must be above 0"):
        editing.edit(source=source, prompt="unchanged", strength=0, provider="diffusers")
    assert ImageOutput.objects.count() == 1


def test_a_missing_model_is_a_failed_image_that_says_so(settings, tmp_path):
    settings.BLOGIMAGES_PROVIDERS = {
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
        "diffusers": {"BACKEND": "blogimages.providers.local_diffusers.DiffusersProvider",
                      "OPTIONS": {"model_path": str(tmp_path / "nowhere"), "device": "cpu"}},
    }
    assert "does not exist" in get_provider("diffusers").check()[0]
    with pytest.raises(CommandError, match="1 of 1 image.s. failed: diffusers: no model at DIFFUSERS_MODEL_PATH"):
        call_command("generate_image", "a boat", "-p", "diffusers", "--size", "64x64")
    failed = ImageOutput.objects.get()
    assert failed.status == "failed" and not failed.file
    assert "no model at DIFFUSERS_MODEL_PATH" in failed.error and "nothing is downloaded" in failed.error
    (tmp_path / "empty").mkdir()
    settings.BLOGIMAGES_PROVIDERS = {"diffusers": {"BACKEND": "blogimages.providers.local_diffusers.DiffusersProvider",
                                                   "OPTIONS": {"model_path": str(tmp_path / "empty")}}}
    with pytest.raises(local_diffusers.ModelMissing, match="no model_index.json"):
        get_provider("diffusers").generate(request())


def test_an_unsupported_size_is_refused_before_the_model_runs(diffusers_provider):
    with pytest.raises(UnsupportedFeature, match="in steps of 8"):
        diffusers_provider.prepare(request(width=100, height=64))
    with pytest.raises(UnsupportedFeature):
        diffusers_provider.prepare(request(width=4096, height=4096))


def test_out_of_memory_is_retried_one_image_at_a_time_then_fails_clearly():
    calls: list[list[int]] = []
    freed: list[bool] = []

    def run(indices):
        calls.append(list(indices))
        if len(indices) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [f"image {indices[0]}"]

    assert local_diffusers.in_batches(3, run, on_oom=lambda: freed.append(True)) == ["image 0", "image 1", "image 2"]
    assert calls == [[0, 1, 2], [0], [1], [2]] and freed == [True]

    def always(indices):
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(local_diffusers.OutOfMemory, match="even one image at a time: try a smaller size"):
        local_diffusers.in_batches(2, always, what="at 2048×2048 on cuda")
    with pytest.raises(ZeroDivisionError):  # anything else is not an out-of-memory error
        local_diffusers.in_batches(2, lambda indices: 1 / 0)


def test_device_and_dtype(monkeypatch):
    assert local_diffusers.pick_device("cpu") == "cpu"
    assert local_diffusers.pick_device("auto") in ("cuda", "mps", "cpu")
    assert local_diffusers.pick_dtype("auto", "cpu") is torch.float32
    assert local_diffusers.pick_dtype("auto", "cuda") is torch.float16
    assert local_diffusers.pick_dtype("bfloat16", "cpu") is torch.bfloat16
    with pytest.raises(local_diffusers.ProviderRejected, match="DIFFUSERS_DTYPE"):
        local_diffusers.pick_dtype("int8", "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(local_diffusers.ProviderRejected, match="no CUDA device"):
            local_diffusers.pick_device("cuda")
