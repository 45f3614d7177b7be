"""A tiny local fake OpenAI HTTP server (chat completions, embeddings, one failing model)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        model = body.get("model", "gpt-4o-mini")
        if model == "broken-model":
            out = {"error": {"message": "The server had an error", "type": "server_error", "code": None}}
            return self._send(500, out)
        if self.path.endswith("/embeddings"):
            out = {
                "object": "list",
                "model": "text-embedding-3-small",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.01, -0.02, 0.03]}],
                "usage": {"prompt_tokens": 5, "total_tokens": 5},
            }
            return self._send(200, out)
        out = {
            "id": "chatcmpl-fake123",
            "object": "chat.completion",
            "created": 1765000000,
            "model": "gpt-4o-mini-2024-07-18",
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Paris is the capital of France."},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 14, "completion_tokens": 7, "total_tokens": 21},
        }
        self._send(200, out)

    def _send(self, code, out):
        data = json.dumps(out).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def start():
    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/v1"
