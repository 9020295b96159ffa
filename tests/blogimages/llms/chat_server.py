"""A loopback stand-in for OpenAI's Chat Completions API, speaking its wire format.

Bodies follow the API reference: `chat.completion` objects with `choices[].message`
(`content`, `refusal`, `tool_calls[]` of `{id, type: "function", function: {name, arguments}}`),
`usage` with prompt/completion tokens, and for `stream: true` server-sent events of
`chat.completion.chunk` objects ending in `data: [DONE]`.
"""

from __future__ import annotations

import json
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Response

CHAT = "/v1/chat/completions"
API_KEY = "sk-test-llm-0123456789abcdefSECRET"


def completion(content: str | None = "", *, tool_calls: list[dict] | None = None, refusal: str | None = None,
               finish_reason: str | None = None, model: str = "gpt-6.1-terra",
               usage: dict | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": refusal}
    if tool_calls:
        message["tool_calls"] = tool_calls
    body = {
        "id": "chatcmpl-123", "object": "chat.completion", "created": 1764547200, "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop")}],
    }
    if usage is not False:
        body["usage"] = usage or {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
    return body


def tool_call(name: str, arguments: dict | str, call_id: str = "call_1") -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def chunk(delta: dict[str, Any] | None = None, *, finish_reason: str | None = None, usage: dict | None = None,
          model: str = "gpt-6.1-terra") -> dict[str, Any]:
    body: dict[str, Any] = {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1764547200,
                            "model": model,
                            "choices": [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None,
                                                                  "finish_reason": finish_reason}]}
    if usage is not None:
        body["usage"] = usage
    return body


def sse(*chunks: dict[str, Any]) -> Response:
    body = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    return Response(body, status=200, content_type="text/event-stream",
                    headers={"x-request-id": "req-stream-1", "Cache-Control": "no-cache"})


def error_body(message: str, *, type: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def answer(httpserver: HTTPServer, body: dict[str, Any], *, status: int = 200, headers: dict | None = None) -> None:
    httpserver.expect_oneshot_request(CHAT, method="POST").respond_with_json(
        body, status=status, headers={"x-request-id": "req-chat-1", **(headers or {})}
    )


def sent_json(httpserver: HTTPServer, index: int = 0) -> dict[str, Any]:
    request = httpserver.log[index][0]
    assert request.headers["Content-Type"].startswith("application/json")
    return json.loads(request.get_data())
