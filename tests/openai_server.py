"""A scripted OpenAI-compatible chat server on 127.0.0.1 for tests: it answers with the replies it is given, in order.

Each reply is a dict: {"content": str} for a plain answer (streamed as server-sent events when the request asks
for a stream, in pieces of "chunk_size" characters, 12 by default, "chunk_delay" seconds apart), {"tool_calls": [...]} for tool calls (streamed whole after the text), {"status": 429, "error": "..."} for an HTTP error, and
optionally {"usage": None} to leave usage out. The server records every request it receives (headers included)
so tests can check what was sent.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedChatServer:
    """Serves /v1/chat/completions from a list of scripted replies."""

    def __init__(self, replies: list[dict[str, Any]]):
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                with contextlib.suppress(
                    BrokenPipeError, ConnectionResetError
                ):  # a client that gave up (time-out)
                    self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    reply = (
                        server.replies.pop(0)
                        if server.replies
                        else {"content": "Thought: done\n<code>\nfinal_answer('done')\n</code>"}
                    )
                if reply.get("delay"):
                    time.sleep(reply["delay"])
                if "status" in reply:
                    self._send_json(
                        reply["status"], {"error": {"message": reply.get("error", "error"), "type": "error"}}
                    )
                    return
                if body.get("stream"):
                    self._stream(reply, body)
                else:
                    self._send_json(200, _completion(reply, body))

            def _send_json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, reply: dict, body: dict) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                content = reply.get("content") or ""
                size = reply.get("chunk_size", 12)
                pieces = [content[i : i + size] for i in range(0, len(content), size)] or [""]
                for index, piece in enumerate(pieces):
                    if index and reply.get("chunk_delay"):  # a slow model: the page shows the text so far
                        time.sleep(reply["chunk_delay"])
                    chunk = {
                        "id": "c",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": body.get("model"),
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"role": "assistant", "content": piece},
                                "finish_reason": None,
                            }
                        ],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                calls = reply.get("tool_calls") or []
                if calls:  # tool calls arrive whole, in one chunk after the text (as OpenAI's stream allows)
                    delta = {
                        "tool_calls": [
                            {
                                "index": i,
                                "id": f"call_{i}",
                                "type": "function",
                                "function": {
                                    "name": call["name"],
                                    "arguments": json.dumps(call.get("arguments", {})),
                                },
                            }
                            for i, call in enumerate(calls)
                        ]
                    }
                    chunk = {
                        "id": "c",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": body.get("model"),
                        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                final = {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": body.get("model"),
                    "choices": [
                        {"index": 0, "delta": {}, "finish_reason": "tool_calls" if calls else "stop"}
                    ],
                }
                usage = reply.get(
                    "usage", {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
                )
                if usage:
                    final["usage"] = usage
                self.wfile.write(f"data: {json.dumps(final)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _completion(reply: dict, body: dict) -> dict:
    message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
    if reply.get("tool_calls"):
        message["tool_calls"] = [
            {
                "id": f"call_{i}",
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(call.get("arguments", {}))},
            }
            for i, call in enumerate(reply["tool_calls"])
        ]
    payload = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.get("tool_calls") else "stop",
            }
        ],
    }
    usage = reply.get("usage", {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120})
    if usage:
        payload["usage"] = usage
    return payload
