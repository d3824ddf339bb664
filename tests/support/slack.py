"""A Slack incoming webhook on loopback: checks each POST as Slack would (JSON with ``text`` and
``blocks``, every block of a known type with its required keys and within Slack's limits) and
answers as Slack does: ``400 invalid_blocks`` to a bad message, else the scripted answers in
turn, then ``200 ok``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["SlackReceiver", "block_kit_problems", "slack_receiver"]

_TEXT_TYPES = {"plain_text", "mrkdwn"}


def _text_problem(obj: object, *, where: str, limit: int, types: set[str]) -> str | None:
    if not isinstance(obj, dict) or obj.get("type") not in types:
        return f"{where}: a text object of type {sorted(types)} is required"
    text = obj.get("text")
    if not isinstance(text, str) or not text or len(text) > limit:
        return f"{where}: text of 1 to {limit} characters is required"
    return None


def block_kit_problems(message: object) -> list[str]:
    """What Slack would refuse in ``message`` (empty when it is a valid message)."""
    if not isinstance(message, dict):
        return ["the body is not a JSON object"]
    problems = []
    if not isinstance(message.get("text"), str) or not message["text"]:
        problems.append("a top-level text fallback is required")
    blocks = message.get("blocks")
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
        return [*problems, "blocks must be a list of 1 to 50 blocks"]
    for index, block in enumerate(blocks):
        where = f"blocks[{index}]"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "header":
            problem = _text_problem(block.get("text"), where=where, limit=150, types={"plain_text"})
            problems += [problem] if problem else []
        elif kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"{where}: a section needs text or fields")
            if "text" in block:
                problem = _text_problem(block["text"], where=where, limit=3000, types=_TEXT_TYPES)
                problems += [problem] if problem else []
            fields = block.get("fields", [])
            if not isinstance(fields, list) or len(fields) > 10:
                problems.append(f"{where}: at most 10 fields")
            for number, item in enumerate(fields if isinstance(fields, list) else []):
                problem = _text_problem(
                    item, where=f"{where}.fields[{number}]", limit=2000, types=_TEXT_TYPES
                )
                problems += [problem] if problem else []
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                problems.append(f"{where}: a context needs 1 to 10 elements")
            for number, item in enumerate(elements if isinstance(elements, list) else []):
                problem = _text_problem(
                    item, where=f"{where}.elements[{number}]", limit=3000, types=_TEXT_TYPES
                )
                problems += [problem] if problem else []
        elif kind == "divider":
            pass
        else:
            problems.append(f"{where}: unknown block type {kind!r}")
    return problems


@dataclass
class SlackReceiver:
    """What the receiver got (``messages``: the valid ones, parsed) and its URL."""

    url: str = ""
    messages: list[dict[str, object]] = field(default_factory=list)
    refused: list[list[str]] = field(default_factory=list)
    posts: int = 0
    answers: list[tuple[int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def slack_receiver(answers: list[tuple[int, str]] | None = None) -> Iterator[SlackReceiver]:
    """A receiver on 127.0.0.1 answering ``answers`` (status, body) in turn, then 200 ok."""
    receiver = SlackReceiver(answers=list(answers or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                message = json.loads(body)
                problems = (
                    block_kit_problems(message)
                    if self.headers.get("Content-Type", "").startswith("application/json")
                    else ["Content-Type is not application/json"]
                )
            except ValueError:
                message, problems = None, ["the body is not JSON"]
            with receiver.lock:
                receiver.posts += 1
                if problems:
                    receiver.refused.append(problems)
                    status, text = 400, "invalid_blocks"
                elif receiver.answers:
                    status, text = receiver.answers.pop(0)
                else:
                    status, text = 200, "ok"
                if status == 200 and not problems:
                    receiver.messages.append(message)
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/XXXXSECRET"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
