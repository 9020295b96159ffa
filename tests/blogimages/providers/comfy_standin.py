"""A loopback ComfyUI: its HTTP API and WebSocket as server.py/execution.py (0.3.6x) speak them.

It runs on aiohttp in a thread of its own, as the real server does, and keeps the real
server's state machine: `/prompt` validates the graph (unknown node classes, combo values
not in `/object_info`'s list, no output node → 400 with `error` and `node_errors`) and queues
it under the client's `prompt_id` if one is given; one worker runs the queue in order and
writes `/history/{id}` only when a prompt ended (`status_str` "success"/"error",
`completed`, `messages`); `/queue` lists running and pending items as
`[number, prompt_id, prompt, extra_data, outputs]` and deletes pending ones; `/interrupt`
with a `prompt_id` stops only that prompt when it runs (without one: whatever runs);
`/view` serves the saved PNGs, which carry ComfyUI's own `prompt` (and `workflow`) text
chunks; `/ws?clientId=` sends `status`, `execution_start`, `execution_cached`, `progress_state`,
`executing`, `progress`, `executed`, `execution_success` / `execution_error` / `execution_interrupted` to
the client that queued the prompt, and after each step's `progress` a binary preview frame
(server.py send_image: uint32 PREVIEW_IMAGE = 1, uint32 format 1 = JPEG / 2 = PNG, the bytes)
as a server started with a `--preview-method` does (`preview_format = None`: none).

Pixels depend only on (seed, batch index), as ComfyUI's noise does: image k of a batch
seeded s is the same whether the batch was 2 or 4 images, and differs from seed s + k.

A test scripts a prompt with `behave(...)`: steps, a hold (the prompt runs until released),
an exception inside a node, or an outside interrupt; `history_faults` makes `/history` answer
500, or stall past the client's read timeout, a number of times.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import struct
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from PIL import Image, PngImagePlugin

BODY = web.RequestKey("body", object)
CHECKPOINTS = ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"]
LORAS = ["detail.safetensors"]
UNETS = ["flux1-dev.safetensors"]

INT = {"min": 0, "max": 0xFFFFFFFFFFFFFFFF}
# /object_info as the real server shapes it (only what the graphs in the tests use).
OBJECT_INFO: dict[str, Any] = {
    "KSampler": {"input": {"required": {
        "model": ["MODEL"], "seed": ["INT", {"default": 0, **INT, "control_after_generate": True}],
        "steps": ["INT", {"default": 20, "min": 1, "max": 10000}],
        "cfg": ["FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0}],
        "sampler_name": [["euler", "euler_ancestral", "dpmpp_2m"], {}],
        "scheduler": [["normal", "karras", "simple"], {}],
        "positive": ["CONDITIONING"], "negative": ["CONDITIONING"], "latent_image": ["LATENT"],
        "denoise": ["FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0}]}},
        "output": ["LATENT"], "output_node": False},
    "CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [CHECKPOINTS, {}]}},
                               "output": ["MODEL", "CLIP", "VAE"], "output_node": False},
    "UNETLoader": {"input": {"required": {"unet_name": [UNETS, {}],
                                          "weight_dtype": [["default", "fp8_e4m3fn"], {}]}},
                   "output": ["MODEL"], "output_node": False},
    "LoraLoader": {"input": {"required": {"model": ["MODEL"], "clip": ["CLIP"], "lora_name": [LORAS, {}],
                                          "strength_model": ["FLOAT", {"default": 1.0, "min": -100, "max": 100}],
                                          "strength_clip": ["FLOAT", {"default": 1.0, "min": -100, "max": 100}]}},
                   "output": ["MODEL", "CLIP"], "output_node": False},
    "EmptyLatentImage": {"input": {"required": {
        "width": ["INT", {"default": 512, "min": 16, "max": 16384, "step": 8}],
        "height": ["INT", {"default": 512, "min": 16, "max": 16384, "step": 8}],
        "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}]}}, "output": ["LATENT"], "output_node": False},
    "CLIPTextEncode": {"input": {"required": {"text": ["STRING", {"multiline": True}], "clip": ["CLIP"]}},
                       "output": ["CONDITIONING"], "output_node": False},
    "VAEDecode": {"input": {"required": {"samples": ["LATENT"], "vae": ["VAE"]}}, "output": ["IMAGE"],
                  "output_node": False},
    "EmptyImage": {"input": {"required": {
        "width": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}],
        "height": ["INT", {"default": 512, "min": 1, "max": 16384, "step": 1}],
        "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}],
        "color": ["INT", {"default": 0, "min": 0, "max": 0xFFFFFF}]}}, "output": ["IMAGE"], "output_node": False},
    "ImageAddNoise": {"input": {"required": {
        "image": ["IMAGE"], "seed": ["INT", {"default": 0, **INT, "control_after_generate": True}],
        "strength": ["FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0}]}}, "output": ["IMAGE"], "output_node": False},
    "SaveImage": {"input": {"required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]}},
                  "output": [], "output_node": True},
    "PreviewImage": {"input": {"required": {"images": ["IMAGE"]}}, "output": [], "output_node": True},
    "PrimitiveStringMultiline": {"input": {"required": {"value": ["STRING", {"multiline": True}]}},
                                 "output": ["STRING"], "output_node": False},
    # A newer-style combo whose choices the UI fetches from a route: no "options" in /object_info.
    "LoadImageOutput": {"input": {"required": {"image": ["COMBO", {
        "image_upload": True, "image_folder": "output",
        "remote": {"route": "/internal/files/output", "refresh_button": True, "control_after_refresh": "first"}}]}},
        "output": ["IMAGE", "MASK"], "output_node": False},
}


def pixels_for(seed: int, index: int, width: int, height: int) -> bytes:
    """A PNG whose pixels follow (seed, batch index) only."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    tile = Image.frombytes("RGB", (4, 4), (digest * 2)[:48])
    image = tile.resize((max(width, 1), max(height, 1)), Image.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@dataclass
class Behaviour:
    """What one prompt does when it runs."""

    steps: int = 3
    # "success", "error" (an exception inside `node`), "interrupt" (someone else's cancel)
    outcome: str = "success"
    exception_type: str = "RuntimeError"
    exception_message: str = "boom"
    node: str = ""
    # Runs (sending progress) until released, interrupted or deleted; after step `hold_after`
    # (default: the last one).
    hold: bool = False
    hold_after: int | None = None
    cached: tuple[str, ...] = ()


@dataclass
class Item:
    number: int
    prompt_id: str
    prompt: dict
    extra: dict
    outputs: list[str]
    behaviour: Behaviour
    release: threading.Event = field(default_factory=threading.Event)
    interrupted: bool = False

    def row(self) -> list:
        return [self.number, self.prompt_id, self.prompt, self.extra, self.outputs]


class FakeComfy:
    def __init__(self, *, auth: str = "") -> None:
        # "Bearer x" or "Basic ..." the proxy in front of it insists on (empty: none).
        self.auth = auth
        self.lock = threading.RLock()
        self.pending: list[Item] = []
        self.running: Item | None = None
        self.history: dict[str, dict] = {}
        self.files: dict[tuple[str, str, str], bytes] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.behaviours: list[Behaviour] = []
        self.default_behaviour = Behaviour()
        # One per /history call: "500" answers 500, "401" a proxy's refusal, "stall" waits
        # `stall_s` before answering.
        self.history_faults: list[str] = []
        self.stall_s = 1.0
        # The race a cancel must survive: prompts wait in the queue until a delete names one,
        # which then starts running just before the delete is applied (a delete no longer
        # touches a running prompt).
        self.start_before_delete = False
        self.websocket_enabled = True
        # "JPEG" or "PNG": a preview frame after each step's progress (None: no previews).
        self.preview_format: str | None = "JPEG"
        self.previews_sent: list[tuple[str, int, bytes]] = []  # (client id, step, image bytes)
        self.sockets: dict[str, list[web.WebSocketResponse]] = {}
        self.ws_connects: list[str] = []
        self.number = 0
        self._wake = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._started = threading.Event()
        self._stopping = False
        self.port = 0

    # -- test controls -------------------------------------------------------------------

    def behave(self, *behaviours: Behaviour) -> None:
        """The next prompts queued behave like these, in order (then like the default)."""
        with self.lock:
            self.behaviours.extend(behaviours)

    def release(self) -> None:
        with self.lock:
            if self.running:
                self.running.release.set()
            for item in self.pending:
                item.release.set()

    def interrupt_from_ui(self) -> None:
        """What pressing Cancel in ComfyUI's own page does: a global /interrupt."""
        with self.lock:
            if self.running:
                self.running.interrupted = True
                self.running.release.set()

    def calls(self, method: str, path: str) -> list[Any]:
        return [body for m, p, body in self.requests if m == method and p == path]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> FakeComfy:
        threading.Thread(target=self._serve, daemon=True, name="fake-comfy").start()
        threading.Thread(target=self._worker, daemon=True, name="fake-comfy-worker").start()
        self._started.wait(10)
        return self

    def stop(self) -> None:
        self._stopping = True
        self.release()
        self._wake.set()
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(middlewares=[self._log_and_auth])
        app.router.add_post("/prompt", self._post_prompt)
        app.router.add_get("/prompt", self._get_prompt)
        app.router.add_get("/history/{prompt_id}", self._get_history)
        app.router.add_get("/queue", self._get_queue)
        app.router.add_post("/queue", self._post_queue)
        app.router.add_post("/interrupt", self._post_interrupt)
        app.router.add_get("/view", self._view)
        app.router.add_get("/object_info", self._object_info)
        app.router.add_get("/object_info/{node_class}", self._object_info_one)
        app.router.add_get("/models/{folder}", self._models)
        app.router.add_get("/ws", self._ws)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()

    @web.middleware
    async def _log_and_auth(self, request: web.Request, handler):
        body = None
        if request.method == "POST" and request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = await request.text()
        with self.lock:
            self.requests.append((request.method, request.path, body if body is not None else dict(request.query)))
        if self.auth and request.headers.get("Authorization") != self.auth:
            return web.Response(status=401, text="401: Unauthorized")
        request[BODY] = body
        return await handler(request)

    # -- HTTP ----------------------------------------------------------------------------

    async def _post_prompt(self, request: web.Request) -> web.Response:
        data = request[BODY]
        if not isinstance(data, dict) or "prompt" not in data:
            return web.json_response({"error": {"type": "no_prompt", "message": "No prompt provided", "details": "",
                                                 "extra_info": {}}, "node_errors": {}}, status=400)
        prompt = data["prompt"]
        error, node_errors, outputs = validate(prompt)
        if error:
            return web.json_response({"error": error, "node_errors": node_errors}, status=400)
        prompt_id = str(data.get("prompt_id") or uuid.uuid4())
        extra = dict(data.get("extra_data") or {})
        if data.get("client_id"):
            extra["client_id"] = data["client_id"]
        with self.lock:
            # server.py answers the number it queued under, then counts on: the first is 0.
            number = self.number
            self.number += 1
            behaviour = self.behaviours.pop(0) if self.behaviours else self.default_behaviour
            self.pending.append(Item(number, prompt_id, prompt, extra, outputs, behaviour))
        self._wake.set()
        await self._broadcast_status()
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": {}})

    async def _get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response({"exec_info": {"queue_remaining": self._remaining()}})

    async def _get_history(self, request: web.Request) -> web.Response:
        with self.lock:
            fault = self.history_faults.pop(0) if self.history_faults else ""
        if fault == "500":
            return web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in trouble")
        if fault == "401":  # a proxy whose session ran out mid-run
            return web.Response(status=401, text="401: Unauthorized")
        if fault == "stall":
            await asyncio.sleep(self.stall_s)
        prompt_id = request.match_info["prompt_id"]
        with self.lock:
            entry = self.history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry else {})

    async def _get_queue(self, request: web.Request) -> web.Response:
        with self.lock:
            running = [self.running.row()] if self.running else []
            pending = [item.row() for item in self.pending]
        return web.json_response({"queue_running": running, "queue_pending": pending})

    async def _post_queue(self, request: web.Request) -> web.Response:
        data = request[BODY] or {}
        if self.start_before_delete:
            named = set(data.get("delete") or ())
            self.start_before_delete = False
            self._wake.set()
            for _ in range(200):
                with self.lock:
                    if not any(item.prompt_id in named for item in self.pending):
                        break
                await asyncio.sleep(0.01)
        with self.lock:
            if data.get("clear"):
                self.pending.clear()
            for prompt_id in data.get("delete") or ():
                self.pending = [item for item in self.pending if item.prompt_id != prompt_id]
        return web.Response(status=200)

    async def _post_interrupt(self, request: web.Request) -> web.Response:
        data = request[BODY] if isinstance(request[BODY], dict) else {}
        with self.lock:
            target = data.get("prompt_id")
            if self.running and (not target or self.running.prompt_id == target):
                self.running.interrupted = True
                self.running.release.set()
        return web.Response(status=200)

    async def _view(self, request: web.Request) -> web.Response:
        key = (request.query.get("filename", ""), request.query.get("subfolder", ""),
               request.query.get("type", "output"))
        with self.lock:
            data = self.files.get(key)
        if data is None:
            return web.Response(status=404, text="404: Not Found")
        return web.Response(body=data, content_type="image/png")

    async def _object_info(self, request: web.Request) -> web.Response:
        return web.json_response(OBJECT_INFO)

    async def _object_info_one(self, request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        return web.json_response({name: OBJECT_INFO[name]} if name in OBJECT_INFO else {})

    async def _models(self, request: web.Request) -> web.Response:
        folders = {"checkpoints": CHECKPOINTS, "loras": LORAS, "diffusion_models": UNETS, "unet": UNETS}
        folder = request.match_info["folder"]
        if folder not in folders:
            return web.Response(status=404, text="404: Not Found")
        return web.json_response(folders[folder])

    async def _ws(self, request: web.Request):
        if not self.websocket_enabled:
            return web.Response(status=404, text="404: Not Found")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        with self.lock:
            self.sockets.setdefault(sid, []).append(ws)
            self.ws_connects.append(sid)
        await ws.send_json({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": self._remaining()}},
                                                       "sid": sid}})
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break
        with self.lock:
            self.sockets.get(sid, []).remove(ws) if ws in self.sockets.get(sid, []) else None
        return ws

    # -- the worker (main.py's prompt_worker) --------------------------------------------

    def _remaining(self) -> int:
        with self.lock:
            return len(self.pending) + (1 if self.running else 0)

    def _send(self, client_id: str | None, event: str, data: dict) -> None:
        async def send() -> None:
            targets = self.sockets.get(client_id, []) if client_id else [
                ws for sockets in self.sockets.values() for ws in sockets]
            for ws in list(targets):
                try:
                    await ws.send_json({"type": event, "data": data})
                except (ConnectionError, RuntimeError):
                    pass

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(send(), self._loop).result(5)

    def _send_preview(self, client_id: str | None, step: int, width: int, height: int) -> None:
        """One preview frame, as server.py's send_image packs it (a latent preview is small)."""
        fmt = self.preview_format
        if not fmt or not client_id:
            return
        buffer = io.BytesIO()
        Image.new("RGB", (max(8, width // 8), max(8, height // 8)), (40 * step % 256,) * 3).save(
            buffer, format=fmt, quality=95, compress_level=1)
        image = buffer.getvalue()
        frame = struct.pack(">I", 1) + struct.pack(">I", 1 if fmt == "JPEG" else 2) + image

        async def send() -> None:
            for ws in list(self.sockets.get(client_id, [])):
                try:
                    await ws.send_bytes(frame)
                except (ConnectionError, RuntimeError):
                    pass

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(send(), self._loop).result(5)
            self.previews_sent.append((client_id, step, image))

    async def _broadcast_status(self) -> None:
        for sockets in list(self.sockets.values()):
            for ws in list(sockets):
                try:
                    await ws.send_json({"type": "status", "data": {"status": {
                        "exec_info": {"queue_remaining": self._remaining()}}}})
                except (ConnectionError, RuntimeError):
                    pass

    def _worker(self) -> None:
        while not self._stopping:
            self._wake.wait(0.05)
            self._wake.clear()
            with self.lock:
                if self.running or not self.pending or self.start_before_delete:
                    continue
                self.running = self.pending.pop(0)
            item = self.running
            try:
                self._execute(item)
            finally:
                with self.lock:
                    self.running = None
                self._wake.set()

    def _execute(self, item: Item) -> None:
        client = item.extra.get("client_id")
        messages: list[list] = []

        def message(event: str, data: dict, *, broadcast: bool = False) -> None:
            data = {**data, "prompt_id": item.prompt_id, "timestamp": 1_732_000_000_000 + len(messages)}
            messages.append([event, data])
            self._send(None if broadcast else client, event, data)

        message("execution_start", {})
        message("execution_cached", {"nodes": list(item.behaviour.cached)})
        behaviour = item.behaviour
        sampler = next((node_id for node_id, node in item.prompt.items()
                        if "seed" in node["inputs"] or "noise_seed" in node["inputs"]), None)
        node = behaviour.node or sampler or next(iter(item.prompt))
        # 0.3.6x also sends each node's state as `progress_state` (every node, not only samplers).
        self._send(client, "progress_state", {"prompt_id": item.prompt_id, "nodes": {node: {
            "value": 0.0, "max": 1.0, "state": "running", "node_id": node, "prompt_id": item.prompt_id,
            "display_node_id": node, "parent_node_id": None, "real_node_id": node}}})
        self._send(client, "executing", {"node": node, "display_node": node, "prompt_id": item.prompt_id})
        hold_after = behaviour.steps if behaviour.hold_after is None else behaviour.hold_after
        for step in range(1, behaviour.steps + 1):
            if item.interrupted:
                break
            self._send(client, "progress", {"value": step, "max": behaviour.steps, "prompt_id": item.prompt_id,
                                            "node": node})
            self._send_preview(client, step, int(_first_input(item.prompt, ("width",), 64)),
                               int(_first_input(item.prompt, ("height",), 64)))
            while behaviour.hold and step == hold_after and not item.release.wait(0.02):
                if self._stopping:
                    return
        if item.interrupted or behaviour.outcome == "interrupt":
            message("execution_interrupted", {"node_id": node, "node_type": item.prompt[node]["class_type"],
                                              "executed": []}, broadcast=True)
            self._finish(item, messages, {}, success=False)
            return
        if behaviour.outcome == "error":
            message("execution_error", {
                "node_id": node, "node_type": item.prompt[node]["class_type"], "executed": [],
                "exception_message": behaviour.exception_message, "exception_type": behaviour.exception_type,
                "traceback": ["Traceback (most recent call last):\n", "  ...\n"], "current_inputs": {},
                "current_outputs": []})
            self._finish(item, messages, {}, success=False)
            return
        outputs = {}
        for node_id in item.outputs:
            images = self._save(item, node_id)
            outputs[node_id] = {"images": images}
            self._send(client, "executed", {"node": node_id, "display_node": node_id, "output": {"images": images},
                                            "prompt_id": item.prompt_id})
        message("execution_success", {})
        self._finish(item, messages, outputs, success=True)

    def _finish(self, item: Item, messages: list, outputs: dict, *, success: bool) -> None:
        with self.lock:
            self.history[item.prompt_id] = {
                "prompt": item.row(), "outputs": outputs,
                "status": {"status_str": "success" if success else "error", "completed": success,
                           "messages": messages},
                "meta": {node_id: {"node_id": node_id, "display_node": node_id, "parent_node": None,
                                   "real_node_id": node_id} for node_id in outputs},
            }
        self._send(item.extra.get("client_id"), "executing", {"node": None, "prompt_id": item.prompt_id})

    def _save(self, item: Item, node_id: str) -> list[dict]:
        graph = item.prompt
        seed = int(_first_input(graph, ("seed", "noise_seed"), 0))
        batch = int(_first_input(graph, ("batch_size",), 1))
        width, height = int(_first_input(graph, ("width",), 64)), int(_first_input(graph, ("height",), 64))
        node = graph[node_id]
        kind = "output" if node["class_type"] == "SaveImage" else "temp"
        prefix = str(node["inputs"].get("filename_prefix", "ComfyUI")) if kind == "output" else "ComfyUI_temp"
        subfolder, _, stem = prefix.rpartition("/")
        images = []
        for index in range(batch):
            data = pixels_for(seed, index, width, height)
            # SaveImage writes the API graph as "prompt" and each extra_pnginfo key (the UI's
            # "workflow") as its own text chunk.
            info = PngImagePlugin.PngInfo()
            info.add_text("prompt", json.dumps(graph))
            for key, value in (item.extra.get("extra_pnginfo") or {}).items():
                info.add_text(key, json.dumps(value))
            out = io.BytesIO()
            Image.open(io.BytesIO(data)).save(out, format="PNG", pnginfo=info)
            name = f"{stem}_{index + 1:05}_.png"
            with self.lock:
                self.files[(name, subfolder, kind)] = out.getvalue()
            images.append({"filename": name, "subfolder": subfolder, "type": kind})
        return images


def _first_input(graph: dict, names: tuple[str, ...], default: Any) -> Any:
    for node in graph.values():
        for name in names:
            value = node["inputs"].get(name)
            if value is not None and not isinstance(value, list):
                return value
    return default


def validate(prompt: Any) -> tuple[dict | None, dict, list[str]]:
    """execution.validate_prompt's answers: (error, node_errors, output node ids)."""
    if not isinstance(prompt, dict):
        return ({"type": "invalid_prompt", "message": "Invalid prompt: not a dict", "details": "",
                 "extra_info": {}}, {}, [])
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or "class_type" not in node:
            return ({"type": "invalid_prompt", "message": f"Cannot execute because a node is missing the class_type "
                     f"property.: Node ID '#{node_id}'", "details": "", "extra_info": {}}, {}, [])
        if node["class_type"] not in OBJECT_INFO:
            # As ComfyUI 0.3.64 answers it (checked against a real server).
            return ({"type": "invalid_prompt", "message": f"Cannot execute because node {node['class_type']} "
                     "does not exist.", "details": f"Node ID '#{node_id}'", "extra_info": {}}, {}, [])
    outputs = [node_id for node_id, node in prompt.items() if OBJECT_INFO[node["class_type"]]["output_node"]]
    if not outputs:
        return ({"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "", "extra_info": {}},
                {}, [])
    node_errors: dict[str, Any] = {}
    for node_id, node in prompt.items():
        errors = []
        for name, spec in OBJECT_INFO[node["class_type"]]["input"]["required"].items():
            value = node["inputs"].get(name)
            if value is None:
                errors.append({"type": "required_input_missing", "message": "Required input is missing",
                               "details": name, "extra_info": {"input_name": name}})
            elif isinstance(value, list):
                continue  # a link
            elif isinstance(spec[0], list) and value not in spec[0]:
                errors.append({"type": "value_not_in_list", "message": "Value not in list",
                               "details": f"{name}: '{value}' not in {spec[0]}",
                               "extra_info": {"input_name": name, "received_value": value}})
            elif spec[0] in ("INT", "FLOAT") and len(spec) > 1:
                if "min" in spec[1] and value < spec[1]["min"]:
                    errors.append({"type": "value_smaller_than_min",
                                   "message": f"Value {value} smaller than min of {spec[1]['min']}",
                                   "details": name, "extra_info": {"input_name": name}})
                if "max" in spec[1] and value > spec[1]["max"]:
                    errors.append({"type": "value_bigger_than_max",
                                   "message": f"Value {value} bigger than max of {spec[1]['max']}",
                                   "details": name, "extra_info": {"input_name": name}})
        if errors:
            node_errors[node_id] = {"errors": errors, "dependent_outputs": outputs, "class_type": node["class_type"]}
    if node_errors:
        return ({"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                 "details": "", "extra_info": {}}, node_errors, outputs)
    return None, {}, outputs


def comfy_providers(server: FakeComfy, *, alias: str = "comfy", timeout: float = 20) -> dict:
    """BLOGIMAGES_PROVIDERS with a ComfyUI alias on this stand-in (fast polling) beside `cards`."""
    return {
        alias: {"BACKEND": "blogimages.providers.comfyui.ComfyUIProvider",
                "OPTIONS": {"base_url": server.url, "checkpoint": CHECKPOINTS[0], "poll_interval": 0.01,
                            "timeout": timeout}},
        "cards": {"BACKEND": "blogimages.providers.cards.CardsProvider", "OPTIONS": {}},
    }
