#!/usr/bin/env python3
"""A payment service for pcancel's tests: takes refund allocations over HTTP as pcancel sends them
(docs/PAYMENTS.md), checks every request's signature with the Standard Webhooks reference library,
applies each allocation id once, and answers by scenario, chosen by the order's external id:

  ...-OK...       200 succeeded
  ...-FLAKY...    500 twice per allocation, then 200 succeeded
  ...-DOWN...     503 three times per allocation, then 200 succeeded
  ...-SLOW...     the first attempt of each allocation sleeps 3 s (past pcancel's timeout), then 200
  ...-DECLINE...  200 failed, "card account closed"
  ...-BAD...      422 (a permanent refusal)
  ...-ASYNC...    202 accepted (the test records the result through RecordRefundResult)

Store credit (a fallback for a failed allocation) always succeeds.

An allocation applied before is answered 409 with its first result. GET /state returns what it saw:
requests per allocation id, the applied allocations (each with its result and amount), and
the requests whose signature did not verify.

Usage: payment_service.py SECRET  (prints "PORT n" once listening on 127.0.0.1)
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = sys.argv[1]
webhook = Webhook(SECRET)
lock = threading.Lock()
requests = {}      # allocation id -> requests seen
applied = {}       # allocation id -> {"status", "reason", "amount", "applications"}
bad_signatures = []


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
            self.answer(200, {"requests": requests, "applied": applied, "bad_signatures": bad_signatures})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            webhook.verify(body, headers)
        except WebhookVerificationError as error:
            with lock:
                bad_signatures.append(str(error))
            return self.answer(401, {"error": "bad signature"})
        instruction = json.loads(body)
        key = headers.get("idempotency-key", "")
        allocation = instruction["allocation_id"]
        if key != allocation or headers.get("webhook-id") != allocation:
            return self.answer(400, {"error": "idempotency-key and webhook-id must be the allocation id"})
        order = instruction["order_id"]
        with lock:
            requests[allocation] = requests.get(allocation, 0) + 1
            attempt = requests[allocation]
            first = applied.get(allocation)
        if first is not None:
            return self.answer(409, {"status": first["status"], "reason": first["reason"]})
        if instruction["method"] == "STORE_CREDIT":
            # Credit is the retailer's own to give: it never fails here.
            order = "-OK"
        if "-FLAKY" in order and attempt <= 2:
            return self.answer(500, {"error": "try again"})
        if "-DOWN" in order and attempt <= 3:
            return self.answer(503, {"error": "down for maintenance"})
        if "-SLOW" in order and attempt == 1:
            time.sleep(3)
        if "-BAD" in order:
            return self.answer(422, {"reason": "tender unknown to the processor"})
        if "-ASYNC" in order:
            return self.answer(202, {"status": "pending"})
        status, reason = ("failed", "card account closed") if "-DECLINE" in order else ("succeeded", "")
        with lock:
            # Applied once per id, whichever of two overlapping attempts gets here first.
            if allocation not in applied:
                applied[allocation] = {"status": status, "reason": reason, "amount": instruction["amount"]}
            result = applied[allocation]
        self.answer(200, {"status": result["status"], "reason": result["reason"]})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
