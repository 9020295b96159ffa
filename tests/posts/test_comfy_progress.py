"""Step progress from the loopback ComfyUI's WebSocket on the develop screen and in
`generate_post_images --wait`, with the images made by a worker thread (as a Celery worker
would make them) while the page and the CLI look on."""

from __future__ import annotations

import io
import threading
import time

import pytest
from django.core.management import call_command
from django.db import connection

from blogimages import queueing, tasks
from blogimages.models import GenerationBatch, ImageOutput, ImageSetting
from tests.blogimages.providers.comfy_standin import Behaviour, FakeComfy, comfy_providers
from tests.blogimages.views.helpers import HX
from tests.posts.test_views import url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def comfy(settings):
    server = FakeComfy().start()
    settings.BLOGIMAGES_PROVIDERS = comfy_providers(server, alias="comfyui")
    settings.BLOGIMAGES_DEFAULT_PROVIDER = "comfyui"
    yield server
    server.release()
    server.stop()


@pytest.fixture
def worker():
    """Queued images go to a thread that runs the task, as a worker process would."""
    threads: list[threading.Thread] = []

    def run(ids: list[int]) -> None:
        def work() -> None:
            try:
                for output_id in ids:
                    tasks.generate_output.apply(args=[output_id])
            finally:
                connection.close()

        thread = threading.Thread(target=work, daemon=True)
        threads.append(thread)
        thread.start()

    previous = queueing._runner
    queueing.set_runner(run)
    yield threads
    queueing.set_runner(previous)
    for thread in threads:
        thread.join(20)


def wait_for_step(value: int) -> ImageOutput:
    for _ in range(2000):
        found = ImageOutput.objects.filter(progress__value=value).first()
        if found is not None:
            return found
        time.sleep(0.01)
    raise AssertionError(f"no image reached step {value}")


def tiny_setting() -> ImageSetting:
    return ImageSetting.objects.create(name="Tiny comfy", provider="comfyui", width=64, height=64)


def test_the_develop_screen_shows_a_step_bar_per_running_image(editor_client, post, comfy, worker):
    comfy.behave(Behaviour(steps=5, hold=True, hold_after=2))

    editor_client.post(url("generate_all", post), {"setting": tiny_setting().pk}, **HX)
    running = wait_for_step(2)
    batch = GenerationBatch.objects.get()
    html = editor_client.get(url("batch_progress", post, batch.pk), **HX).content.decode()

    assert f'<li data-image="{running.pk}">' in html
    assert '<progress value="2" max="5"' in html and "step 2 of 5" in html
    assert html.count("queued</span>") == batch.total - 1  # the others wait their turn
    assert running.progress["source"] == "websocket"
    page = editor_client.get(url("develop", post)).content.decode()  # the whole page shows it too
    assert '<progress value="2" max="5"' in page and "step 2 of 5" in page

    comfy.release()
    for thread in worker:
        thread.join(20)
    html = editor_client.get(url("batch_progress", post, batch.pk), **HX).content.decode()
    assert 'data-status="succeeded"' in html and 'id="image-steps"' not in html


class Screen(io.StringIO):
    """The command's stdout; lets the held prompt go once the step line has been shown."""

    def __init__(self, comfy: FakeComfy, line: str) -> None:
        super().__init__()
        self.comfy, self.line = comfy, line

    def write(self, text: str) -> int:
        written = super().write(text)
        if self.line in text:
            self.comfy.release()
        return written


def test_generate_post_images_wait_prints_each_images_steps(post, comfy, worker):
    comfy.behave(Behaviour(steps=4, hold=True, hold_after=3))
    tiny_setting()
    screen = Screen(comfy, "step 3 of 4")

    call_command("generate_post_images", "coast", "--setting", "Tiny comfy", "--wait", "--slots", "intro,pools",
                 stdout=screen)
    out = screen.getvalue()

    assert "[###############-----] step 3 of 4" in out
    assert "[##############################] 2/2 done" in out


def test_the_testers_card_shows_the_step_of_a_running_image(client, editor_client, comfy, worker):
    from django.urls import reverse

    from blogimages import generation

    comfy.behave(Behaviour(steps=6, hold=True, hold_after=4))
    generation.submit(prompt="a lighthouse", provider="comfyui", overrides={"width": 64, "height": 64})
    running = wait_for_step(4)

    html = editor_client.get(reverse("blogimages:output_status", args=[running.pk]), **HX).content.decode()

    assert '<progress value="4" max="6" aria-label="Steps"></progress> step 4 of 6' in html
    assert 'hx-trigger="every 1s"' in html
    comfy.release()
