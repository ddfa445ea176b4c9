"""A local OpenAI-compatible chat-completions server for judge tests: scripted replies chosen
by a marker in the request (``CASE:<name>``), counting every request it receives."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCRIPTS: dict[str, list] = {
    # each entry: (status, content or None for a bad body, delay seconds); the last one repeats
    "ok5": [(200, "Relevant and detailed.\n5\n5", 0)],
    "malformed": [(200, "I cannot decide on a number.", 0)],
    "429once": [(429, None, 0), (200, "Fine.\nScore: 4\n4", 0)],
    "500twice": [(500, None, 0), (502, None, 0), (200, "Complete but bare.\n3\n3", 0)],
    "slow": [(200, "late\n6\n6", 1.0), (200, "Organised.\n6\n6", 0)],
    "always500": [(500, None, 0)],
    "badjson": [(200, None, 0), (200, "ok\n2\n2", 0)],
    "pair_a": [(200, "A is better.\nA", 0)],
    "refuse_json": [(200, "Complete, nothing more.\n3\n3", 0)],
    "refuse_json_format": [(400, None, 0)],  # an endpoint without structured output
    # a judge that drifts: the first pass over four responses, then the second pass
    "drift": [(200, f"r\n{n}\n{n}", 0) for n in (4, 4, 5, 5, 4, 5, 5, 2)],
}


class JudgeServer:
    def __init__(self, default: str = "ok5") -> None:
        self.requests: Counter[str] = Counter()
        self.auth: set[str] = set()
        self.formats: list[bool] = []  # per request: whether it asked for a response_format
        self.default = default
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                text = body["messages"][-1]["content"]
                m = re.search(r"CASE:(\w+)", text)
                case = m.group(1) if m else server.default
                if case == "refuse_json" and "response_format" in body:
                    case = "refuse_json_format"
                with lock:
                    server.formats.append("response_format" in body)
                    n = server.requests[case]
                    server.requests[case] += 1
                    server.auth.add(self.headers.get("Authorization", ""))
                script = SCRIPTS[case]
                status, content, delay = script[min(n, len(script) - 1)]
                if delay:
                    time.sleep(delay)
                if status == 200 and content is not None:
                    payload = json.dumps(
                        {
                            "choices": [{"message": {"role": "assistant", "content": content}}],
                            "usage": {"prompt_tokens": 100, "completion_tokens": 10},
                        }
                    ).encode()
                else:
                    payload = b"{not json" if status == 200 else b'{"error": "busy"}'
                try:
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "0.01")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out first
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> JudgeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def total(self) -> int:
        return sum(self.requests.values())
