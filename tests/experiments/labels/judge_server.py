"""A real OpenAI-compatible chat-completions server on 127.0.0.1, scripted per request.

It answers like a judge would (sentences opening with "Wait"/"Hmm"/"But wait" → backtracking,
others → deduction), or, as the script says for request ``n``, with an HTTP error, a delay, or
garbage. Loopback only: nothing leaves the machine.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Behaviour = tuple[Any, ...]
"""("ok",) | ("status", code, retry_after | None) | ("sleep", seconds) | ("content", text) |
("raw", bytes) | ("redirect", code, location)"""

_LINE = re.compile(r"^\[(\d+)\] (.*)$", re.MULTILINE)


def judge_labels(user_message: str) -> dict[str, str]:
    out = {}
    to_label = user_message.split("Sentences to label:")[1]
    for number, sentence in _LINE.findall(to_label):
        opening = sentence.lower().lstrip('"*')
        back = opening.startswith(("wait", "hmm", "but wait", "let me re-check", "no,"))
        out[number] = "backtracking" if back else "deduction"
    return out


def _request_text(body: dict[str, Any]) -> str:
    """The user message that lists the sentences (a repair turn may follow it)."""
    return next(
        m["content"] for m in body["messages"] if "Sentences to label:" in m.get("content", "")
    )


class JudgeServer:
    def __init__(
        self,
        script: Callable[[int], Behaviour] = lambda n: ("ok",),
        *,
        refuse_formats: tuple[str, ...] = (),
        refuse_status: int = 400,
    ) -> None:
        self.script = script
        self.refuse_formats = refuse_formats
        """``response_format`` types answered with ``refuse_status``, as by a server that lacks
        them (llama-cpp-python's server answers 500 naming the field)."""
        self.refuse_status = refuse_status
        self.bodies: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        """(method, path, headers) of every request received, whatever its method."""
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _record(self) -> None:
                with server._lock:
                    server.requests.append((self.command, self.path, dict(self.headers.items())))

            def do_GET(self) -> None:
                self._record()
                self.finished_counting = True  # never counted as active
                server._send(self, 405, b'{"error": "POST only"}')

            def do_POST(self) -> None:
                self._record()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server._lock:
                    n = len(server.bodies)
                    server.bodies.append(body)
                    server.auth.append(self.headers.get("Authorization"))
                    server.active += 1
                    server.max_active = max(server.max_active, server.active)
                try:
                    server._answer(self, n, body)
                finally:
                    server._done(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def _answer(self, handler: BaseHTTPRequestHandler, n: int, body: dict[str, Any]) -> None:
        if not (handler.path.startswith("/v1/") and handler.path.endswith("/chat/completions")):
            return self._send(handler, 404, b'{"error": "not found"}')
        asked = (body.get("response_format") or {}).get("type")
        if asked in self.refuse_formats:
            message = b'{"error": "body.response_format.type: Input should be text or json_object"}'
            return self._send(handler, self.refuse_status, message)
        behaviour = self.script(n)
        kind = behaviour[0]
        if kind == "status":
            headers = {"Retry-After": str(behaviour[2])} if behaviour[2] is not None else {}
            return self._send(handler, behaviour[1], b'{"error": "scripted"}', headers)
        if kind == "raw":
            return self._send(handler, 200, behaviour[1])
        if kind == "redirect":
            return self._send(handler, behaviour[1], b"", {"Location": behaviour[2]})
        if kind == "sleep":
            time.sleep(behaviour[1])
        content = (
            behaviour[1]
            if kind == "content"
            else json.dumps({"labels": judge_labels(_request_text(body))})
        )
        reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
        self._send(handler, 200, json.dumps(reply).encode())

    def _done(self, handler: BaseHTTPRequestHandler) -> None:
        """The request stops counting as active (once), before its reply can reach the client: a
        client that sends its next request on receipt must not see two requests overlap here."""
        with self._lock:
            if not getattr(handler, "finished_counting", False):
                handler.finished_counting = True  # type: ignore[attr-defined]
                self.active -= 1

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        code: int,
        data: bytes,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._done(handler)
        try:
            handler.send_response(code)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test)

    def __enter__(self) -> JudgeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
