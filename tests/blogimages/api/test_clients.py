"""Real clients against /v1 on the live server: the npm `openai` package run by Node, LiteLLM
as a library, and the issue's curl example (requests and browser fetch are in
tests/test_production.py and tests/browser/test_v1_cors.py)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess

import pytest

from blogimages import tokens
from blogimages.models import ImageOutput
from tests.conftest import require_service
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

# The version the clients were run with.
NODE_OPENAI = "openai@6.49.0"

NODE_SCRIPT = r"""
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY, maxRetries: 0 });
const b64 = await client.images.generate({ model: "cards", prompt: "A lake at dawn", size: "256x256" });
const url = await client.images.generate({ model: "cards", prompt: "A lake at dusk", size: "256x256",
                                           response_format: "url" });
const fetched = await fetch(url.data[0].url);
const body = Buffer.from(await fetched.arrayBuffer());
const types = [];
for await (const event of await client.images.generate({ model: "cards", prompt: "A lake", size: "64x64",
                                                         stream: true })) {
  types.push(event.type);
}
console.log(JSON.stringify({
  b64: b64.data[0].b64_json, b64_url: b64.data[0].url ?? null, size: b64.size,
  url: url.data[0].url, url_b64: url.data[0].b64_json ?? null,
  fetched: { status: fetched.status, type: fetched.headers.get("content-type"),
             head: body.subarray(0, 8).toString("hex") },
  stream: types,
}));
"""


@pytest.fixture(scope="session")
def node_openai(tmp_path_factory):
    """A folder with the npm `openai` package installed (once per session)."""
    if not (shutil.which("node") and shutil.which("npm")):
        require_service("Node and npm", "node/npm are not on PATH")
    folder = tmp_path_factory.mktemp("node-openai")
    (folder / "package.json").write_text(json.dumps({"name": "v1-client-test", "private": True, "type": "module"}))
    result = subprocess.run(["npm", "install", "--no-save", "--silent", NODE_OPENAI], cwd=folder, timeout=300,
                            capture_output=True, text=True)
    if result.returncode != 0:
        require_service("npm registry", f"npm install {NODE_OPENAI} failed: {result.stderr[-500:]}")
    return folder


@pytest.fixture
def raw_token():
    return tokens.create_token(UserFactory(username="clients"), name="tests")[1]


def stored(output: ImageOutput) -> bytes:
    with output.file.open("rb") as fh:
        return fh.read()


def test_the_node_sdk_gets_base64_by_default_a_working_url_and_a_stream(node_openai, live_server, raw_token):
    (node_openai / "run.mjs").write_text(NODE_SCRIPT)
    result = subprocess.run(["node", "run.mjs"], cwd=node_openai, timeout=120, capture_output=True, text=True,
                            env={**os.environ, "BASE_URL": live_server.url + "/v1", "API_KEY": raw_token})
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    first, second, _streamed = ImageOutput.objects.order_by("pk")
    assert answer["b64_url"] is None and base64.b64decode(answer["b64"]) == stored(first)
    assert answer["size"] == "256x256"
    assert answer["url_b64"] is None and answer["url"].startswith(live_server.url + "/images/media/")
    assert answer["fetched"] == {"status": 200, "type": "image/png", "head": stored(second)[:8].hex()}
    assert answer["stream"] == ["image_generation.completed"]


def test_litellm_gets_base64_without_extra_body(live_server, raw_token):
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of its price list
    try:
        import litellm
    except ImportError:
        require_service("litellm", "pip install -r requirements-dev.txt")
    litellm.telemetry = False
    response = litellm.image_generation(model="openai/cards", prompt="A lake at dawn", size="256x256",
                                        api_base=live_server.url + "/v1", api_key=raw_token)
    output = ImageOutput.objects.get()
    assert base64.b64decode(response.data[0].b64_json) == stored(output)
    assert (output.provider, output.width) == ("cards", 256)


def test_the_curl_example_writes_an_image_file(live_server, raw_token, tmp_path):
    """The issue's curl example with only a token added, then data[0].b64_json decoded to a file."""
    if not shutil.which("curl"):
        require_service("curl", "curl is not on PATH")
    body = json.dumps({"prompt": "A lake at dawn", "model": "cards", "n": 1, "size": "1024x1024",
                       "response_format": "b64_json"})
    result = subprocess.run(
        ["curl", "-sS", "-X", "POST", live_server.url + "/v1/images/generations", "-H",
         "Content-Type: application/json", "-H", f"Authorization: Bearer {raw_token}", "-d", body],
        timeout=120, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    image = tmp_path / "image.png"
    image.write_bytes(base64.b64decode(json.loads(result.stdout)["data"][0]["b64_json"]))
    assert image.read_bytes() == stored(ImageOutput.objects.get())
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
