#!/usr/bin/env python3
"""A touchpoint for pcancel's tests: receives webhook events (docs/EVENTS.md) at /hooks/NAME, one
path per subscription, checks every signature with the Standard Webhooks reference library, and
keeps what arrived, in arrival order. The first FAIL requests of all are answered 500, to make
pcancel retry.

GET /state returns {"received": {NAME: [event, ...]}, "bad_signatures": [...], "requests": n}.

Usage: receiver.py NAME=SECRET [NAME=SECRET ...] [--fail N]  (prints "PORT n" once listening)
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

arguments = sys.argv[1:]
fail = 0
if "--fail" in arguments:
    at = arguments.index("--fail")
    fail = int(arguments[at + 1])
    del arguments[at:at + 2]
hooks = {name: Webhook(secret) for name, secret in (argument.split("=", 1) for argument in arguments)}
lock = threading.Lock()
received = {name: [] for name in hooks}
bad_signatures = []
requests = 0


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with lock:
            self.answer(200, {"received": received, "bad_signatures": bad_signatures, "requests": requests})

    def do_POST(self):
        global requests
        name = self.path.rsplit("/", 1)[-1]
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {key.lower(): value for key, value in self.headers.items()}
        with lock:
            requests += 1
            failing = requests <= fail
        if name not in hooks:
            return self.answer(404, {"error": "no such hook"})
        try:
            event = hooks[name].verify(body, headers)
        except WebhookVerificationError as error:
            with lock:
                bad_signatures.append(f"{name}: {error}")
            return self.answer(401, {"error": "bad signature"})
        if failing:
            return self.answer(500, {"error": "not now"})
        if event.get("id") != headers.get("webhook-id"):
            with lock:
                bad_signatures.append(f"{name}: webhook-id {headers.get('webhook-id')} is not the event's id")
        with lock:
            received[name].append(event)
        self.answer(200, {"ok": True})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
