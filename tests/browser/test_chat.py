"""The done-when conversation in a real browser: a section's chat, two turns, the second image used."""

from playwright.sync_api import expect

from .axe import serious_violations
from .conftest import log_in, screenshot

DEMO = "a-weekend-on-the-coast"


def test_refine_a_section_image_in_chat_and_use_it(page):
    from posts.models import Section

    log_in(page)
    page.goto(f"/posts/{DEMO}/develop/")
    section = page.locator("article.develop-section", has_text="Arriving at dusk")
    section.get_by_role("button", name="Refine in chat").click()
    page.wait_for_url("**/images/chat/*/")
    expect(page.locator("#chat-interpreter")).to_contain_text("not an AI model")

    # Hold the first request so the loading state can be seen: the page answers at once.
    held = []
    page.route("**/messages/", lambda route: held.append(route))
    page.get_by_label("Message").fill("a red lighthouse at dusk")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#chat-sending")).to_be_visible()
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    held[0].continue_()
    page.unroute("**/messages/")

    first = page.locator("article.chat-message.assistant").nth(0)
    expect(first.locator("[data-size]")).to_have_text("1536×864")
    expect(first.locator("[data-prompt-text]")).to_contain_text("a red lighthouse at dusk")
    expect(first.locator(".output-card img.result")).to_be_visible()
    expect(page.locator("#chat-sending")).to_be_hidden()
    expect(page.get_by_label("Message")).to_have_value("")

    page.get_by_label("Message").fill("wider, and without people")
    page.get_by_role("button", name="Send").click()
    second = page.locator("article.chat-message.assistant").nth(1)
    expect(second.locator("[data-size]")).to_have_text("1536×656")
    expect(second.locator("[data-negative]")).to_have_text("people")
    expect(second.locator(".chat-notes")).to_contain_text("wider: 1536×656")
    image = second.locator(".output-card img.result")
    expect(image).to_be_visible()
    expect(image).to_have_attribute("width", "1536")
    screenshot(page, "chat-section-two-turns")
    assert serious_violations(page) == []

    second.get_by_role("button", name="Use in Arriving at dusk").click()
    expect(page.locator(".messages")).to_contain_text("is now the image of this slot")
    chosen = Section.objects.select_related("chosen_image").get(post__slug=DEMO, key="arrival").chosen_image
    assert chosen is not None and (chosen.width, chosen.height) == (1536, 864)
    assert chosen.negative_prompt == "people" or chosen.derived_from.negative_prompt == "people"


def test_improve_shows_a_proposal_that_saves_only_when_accepted(page):
    from blogimages.models import ImagePrompt

    log_in(page)
    page.goto(f"/posts/{DEMO}/develop/")
    section = page.locator("article.develop-section", has_text="Arriving at dusk")
    section.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk, without people")
    section.get_by_role("button", name="Improve").click()
    expect(page.locator("h1")).to_contain_text("Proposed prompt for “Arriving at dusk”")
    expect(page.locator("tr[data-part=negative_prompt] ins")).to_have_text("people")
    assert not ImagePrompt.objects.filter(post__slug=DEMO, section_key="arrival", negative_prompt="people").exists()
    screenshot(page, "assist-proposal", phone=False)
    page.get_by_role("button", name="Accept and save").click()
    page.wait_for_url(f"**/posts/{DEMO}/develop/**")
    saved = ImagePrompt.objects.get(post__slug=DEMO, section_key="arrival")
    assert (saved.description, saved.negative_prompt) == ("a lighthouse at dusk", "people")


def test_a_streaming_assistant_writes_into_the_page_as_it_answers(page, settings, httpserver):
    """The stand-in holds its SSE answer half-way: the words so far are on the page, and so is the
    loading state; released, the tool call makes the image and the finished message replaces them."""
    import json
    import threading

    from werkzeug import Response

    from tests.blogimages.llms.chat_server import CHAT, chunk

    settings.BLOGIMAGES_LLMS = {"stand-in": {"BACKEND": "blogimages.llms.openai_compatible.OpenAICompatibleLLM",
                                             "OPTIONS": {"base_url": httpserver.url_for("/v1"), "model": "chat-1"}}}
    settings.BLOGIMAGES_DEFAULT_LLM = "stand-in"
    release = threading.Event()
    arguments = json.dumps({"description": "a red lighthouse at dusk", "width": 1536, "height": 864})

    def held_stream(request):
        def body():
            yield f"data: {json.dumps(chunk({'role': 'assistant', 'content': 'Drawing a red '}))}\n\n"
            release.wait(30)
            for part in (chunk({"content": "lighthouse."}),
                         chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                "function": {"name": "generate_image", "arguments": arguments}}]}),
                         chunk({}, finish_reason="tool_calls")):
                yield f"data: {json.dumps(part)}\n\n"
            yield "data: [DONE]\n\n"
        return Response(body(), content_type="text/event-stream")

    httpserver.expect_oneshot_request(CHAT, method="POST").respond_with_handler(held_stream)
    log_in(page)
    page.goto("/images/chat/")
    page.get_by_role("button", name="New chat").click()
    page.wait_for_url("**/images/chat/*/")
    expect(page.locator("#chat-interpreter")).to_contain_text("stand-in")
    page.get_by_label("Message").fill("a red lighthouse at dusk")
    page.get_by_role("button", name="Send").click()

    answering = page.locator("article.chat-message.assistant")
    try:
        expect(answering.locator("[data-streamed]")).to_have_text("Drawing a red ")
        expect(answering.locator(".chat-waiting")).to_be_visible()
        expect(page.get_by_label("Message")).to_have_value("")  # the form is free while it answers
        screenshot(page, "chat-streaming", phone=False)
    finally:
        release.set()
    expect(answering).to_have_attribute("data-status", "done")
    expect(answering.locator(".chat-text")).to_have_text("Drawing a red lighthouse.")
    expect(answering.locator("[data-size]")).to_have_text("1536×864")
    expect(answering.locator(".output-card img.result")).to_be_visible()
    expect(answering.locator(".chat-waiting")).to_have_count(0)
    httpserver.check_assertions()
