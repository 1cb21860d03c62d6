#!/usr/bin/env python3
"""Interop test client for pcancel wire protocol v1.

Written from docs/PROTOCOL.md and the .proto files only: it uses Google's Python protobuf runtime
with code generated at run time by `protoc --python_out`, and none of the server's own code.

    python3 Tests/Interop/interop_client.py --host 127.0.0.1 --port N --api-key KEY [--proto-dir DIR]

Each check prints `PASS name` or `FAIL name: why`; the last line is `interop: P passed, F failed`.
The exit code is 0 only when nothing failed. Every socket operation has a timeout, so the script
cannot hang on a silent server.
"""

import argparse
import importlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024  # docs/PROTOCOL.md: default max_frame_bytes, 4 MiB
IO_TIMEOUT = 10.0                          # seconds, for every socket operation
CLOSE_TIMEOUT = 5.0                        # how long to wait for the server to close after a GoAway

SERVICE = "pcancel.v1.PartialCancellation"
PING = SERVICE + "/Ping"
HEALTH = SERVICE + "/Health"
PUT_STOCK = SERVICE + "/PutStock"
WATCH_STOCK = SERVICE + "/WatchStock"
STATS = SERVICE + "/Stats"

# Status codes (numerically gRPC's), docs/PROTOCOL.md "Status codes".
OK = 0
CANCELLED = 1
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
OUT_OF_RANGE = 11
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
UNIMPLEMENTED = 12
UNAUTHENTICATED = 16

pb = None    # pcancel.v1.envelope_pb2, set by load_protos()
diag = None  # pcancel.v1.diagnostics_pb2
stock = None  # pcancel.v1.stock_pb2
watch = None  # pcancel.v1.watch_pb2


class CheckFailed(Exception):
    pass


class ConnectionClosed(Exception):
    pass


def require(condition, why):
    if not condition:
        raise CheckFailed(why)


# MARK: - Generated code


def load_protos(proto_dir, out_dir):
    """Runs protoc on proto_dir/pcancel/v1/*.proto into out_dir and imports the modules."""
    global pb, diag, stock, watch
    protoc = shutil.which("protoc")
    if protoc is None:
        raise RuntimeError("protoc not found on PATH")
    source_dir = os.path.join(proto_dir, "pcancel", "v1")
    sources = sorted(os.path.join(source_dir, name) for name in os.listdir(source_dir) if name.endswith(".proto"))
    if not sources:
        raise RuntimeError("no .proto files in %s" % source_dir)
    result = subprocess.run([protoc, "--proto_path=" + proto_dir, "--python_out=" + out_dir] + sources,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if result.returncode != 0:
        raise RuntimeError("protoc failed: %s" % result.stderr.decode("utf-8", "replace").strip())
    # Regular packages (not namespace packages), so nothing else called `pcancel` can shadow them.
    for package in (os.path.join(out_dir, "pcancel"), os.path.join(out_dir, "pcancel", "v1")):
        open(os.path.join(package, "__init__.py"), "a").close()
    sys.path.insert(0, out_dir)
    pb = importlib.import_module("pcancel.v1.envelope_pb2")
    diag = importlib.import_module("pcancel.v1.diagnostics_pb2")
    stock = importlib.import_module("pcancel.v1.stock_pb2")
    watch = importlib.import_module("pcancel.v1.watch_pb2")
    importlib.import_module("pcancel.v1.service_pb2")


# MARK: - Connection


class Connection:
    """One TCP connection speaking frames: 4-byte unsigned big-endian length, then one Envelope."""

    def __init__(self, host, port, max_frame_bytes=DEFAULT_MAX_FRAME_BYTES):
        self.sock = socket.create_connection((host, port), timeout=IO_TIMEOUT)
        self.sock.settimeout(IO_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.max_frame_bytes = max_frame_bytes
        self.skipped = []  # envelopes read while waiting for something else

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Sending

    def send_raw(self, data):
        self.sock.settimeout(IO_TIMEOUT)
        self.sock.sendall(data)

    def send(self, envelope):
        self.send_raw(frame(envelope))

    # Receiving

    def recv_exact(self, n, deadline):
        """Exactly n bytes. Raises ConnectionClosed if the peer closes first, socket.timeout at the deadline."""
        chunks = []
        remaining = n
        while remaining > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("timed out with %d of %d bytes read" % (n - remaining, n))
            self.sock.settimeout(min(left, IO_TIMEOUT))
            chunk = self.sock.recv(min(remaining, 65536))
            if not chunk:
                raise ConnectionClosed("connection closed after %d of %d bytes" % (n - remaining, n))
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def recv_envelope(self, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        (length,) = struct.unpack(">I", self.recv_exact(4, deadline))
        if length == 0 or length > self.max_frame_bytes:
            raise CheckFailed("server sent a frame of length %d (limit %d)" % (length, self.max_frame_bytes))
        envelope = pb.Envelope()
        envelope.ParseFromString(self.recv_exact(length, deadline))
        return envelope

    def recv_until(self, accept, timeout=IO_TIMEOUT, what="an envelope"):
        """Reads envelopes until accept(envelope) is true and returns that one. A Ping from the server is
        answered with a Pong; other envelopes are kept in self.skipped. A GoAway that is not accepted
        fails the check."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CheckFailed("timed out waiting for %s" % what)
            try:
                envelope = self.recv_envelope(left)
            except socket.timeout:
                raise CheckFailed("timed out waiting for %s" % what)
            except ConnectionClosed as error:
                raise CheckFailed("connection closed while waiting for %s (%s)" % (what, error))
            if accept(envelope):
                return envelope
            body = envelope.WhichOneof("body")
            if body == "ping":
                self.send(pb.Envelope(pong=pb.Pong(nonce=envelope.ping.nonce)))
                continue
            if body == "go_away":
                raise CheckFailed("GoAway while waiting for %s: %s" % (what, describe_status(envelope.go_away.status)))
            self.skipped.append(envelope)

    def recv_reply(self, call_id, timeout=IO_TIMEOUT):
        envelope = self.recv_until(lambda e: e.WhichOneof("body") == "reply" and e.reply.call_id == call_id,
                                   timeout, "Reply for call %d" % call_id)
        return envelope.reply

    def recv_body(self, body, timeout=IO_TIMEOUT):
        return self.recv_until(lambda e: e.WhichOneof("body") == body, timeout, body)

    def wait_closed(self, timeout=CLOSE_TIMEOUT):
        """True once the server has closed the connection (EOF or reset), False if it is still open at
        the timeout. Envelopes read meanwhile are kept in self.skipped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                self.skipped.append(self.recv_envelope(left))
            except ConnectionClosed:
                return True
            except (ConnectionResetError, BrokenPipeError):
                return True
            except socket.timeout:
                return False

    # Protocol steps

    def hello(self, api_key, client_name="python-interop", protocol_version=PROTOCOL_VERSION):
        self.send(pb.Envelope(hello=pb.Hello(protocol_version=protocol_version, client_name=client_name, api_key=api_key)))
        return self.recv_body("hello_reply").hello_reply

    def call(self, call_id, method, request_bytes, deadline_ms=0):
        self.send(pb.Envelope(call=pb.Call(call_id=call_id, method=method, deadline_ms=deadline_ms, request=request_bytes)))


def frame(envelope):
    data = envelope.SerializeToString()
    return struct.pack(">I", len(data)) + data


def status_code(status_holder):
    """The code of a message's `status` field; an absent Status means OK."""
    return status_holder.status.code if status_holder.HasField("status") else OK


def reason_codes(status):
    return [reason.code for reason in status.reasons]


def describe_status(status):
    text = "code %d" % status.code
    if status.message:
        text += " %r" % status.message
    if status.reasons:
        text += " reasons %s" % reason_codes(status)
    return text


def describe_reply(reply):
    if not reply.HasField("status"):
        return "OK (no status)"
    return describe_status(reply.status)


def ping_request(payload, delay_ms=0):
    return diag.PingRequest(payload=payload, delay_ms=delay_ms).SerializeToString()


# MARK: - Checks


class Interop:
    def __init__(self, host, port, api_key):
        self.host = host
        self.port = port
        self.api_key = api_key
        self.passed = 0
        self.failed = 0

    def connect(self):
        return Connection(self.host, self.port)

    def session(self, api_key=None):
        """A connection with an accepted Hello."""
        conn = self.connect()
        try:
            reply = conn.hello(self.api_key if api_key is None else api_key)
            require(status_code(reply) == OK, "Hello refused: %s" % describe_status(reply.status))
            if reply.HasField("limits") and reply.limits.max_frame_bytes > 0:
                conn.max_frame_bytes = reply.limits.max_frame_bytes
        except BaseException:
            conn.close()
            raise
        return conn

    def run(self, name, check):
        try:
            check()
        except CheckFailed as error:
            self.failed += 1
            print("FAIL %s: %s" % (name, error), flush=True)
        except Exception as error:  # socket errors, decode errors, ...
            self.failed += 1
            print("FAIL %s: %s: %s" % (name, type(error).__name__, error), flush=True)
        else:
            self.passed += 1
            print("PASS %s" % name, flush=True)

    def expect_go_away_and_close(self, conn, code, reason=None):
        go_away = conn.recv_body("go_away").go_away
        require(go_away.HasField("status"), "GoAway without a status")
        require(go_away.status.code == code,
                "GoAway status %s, expected code %d" % (describe_status(go_away.status), code))
        if reason is not None:
            require(reason in reason_codes(go_away.status),
                    "GoAway reasons %s lack %s" % (reason_codes(go_away.status), reason))
        require(conn.wait_closed(), "server did not close the connection within %.0f s after GoAway" % CLOSE_TIMEOUT)

    def ping_works(self, conn, call_id):
        payload = b"still usable %d" % call_id
        conn.call(call_id, PING, ping_request(payload))
        reply = conn.recv_reply(call_id)
        require(status_code(reply) == OK, "follow-up Ping failed: %s" % describe_reply(reply))
        require(diag.PingResponse.FromString(reply.response).payload == payload, "follow-up Ping echoed the wrong payload")

    # 1
    def check_hello(self):
        with self.connect() as conn:
            reply = conn.hello(self.api_key)
            require(status_code(reply) == OK, "Hello refused: %s" % describe_status(reply.status))
            require(reply.protocol_version == PROTOCOL_VERSION, "protocol_version %d, expected 1" % reply.protocol_version)
            require(reply.role == "admin", "role %r, expected 'admin'" % reply.role)
            require(reply.HasField("limits"), "HelloReply has no limits")
            require(reply.limits.max_frame_bytes == DEFAULT_MAX_FRAME_BYTES,
                    "limits.max_frame_bytes %d, expected %d" % (reply.limits.max_frame_bytes, DEFAULT_MAX_FRAME_BYTES))

    # 2
    def check_ping(self):
        with self.session() as conn:
            conn.call(1, PING, ping_request(b"hello interop"))
            reply = conn.recv_reply(1)
            require(status_code(reply) == OK, "status %s" % describe_reply(reply))
            response = diag.PingResponse.FromString(reply.response)
            require(response.payload == b"hello interop", "payload %r" % response.payload)
            require(response.server_time_unix_ms != 0, "server_time_unix_ms is 0")

    # 3
    def check_concurrent(self):
        ids = list(range(100, 300))
        delayed = {call_id for call_id in ids if call_id % 3 == 0}
        with self.session() as conn:
            burst = b"".join(
                frame(pb.Envelope(call=pb.Call(call_id=call_id, method=PING,
                                               request=ping_request(b"call %d" % call_id, 30 if call_id in delayed else 0))))
                for call_id in ids)
            conn.send_raw(burst)
            order = []
            seen = set()
            while len(order) < len(ids):
                envelope = conn.recv_until(lambda e: e.WhichOneof("body") == "reply", IO_TIMEOUT,
                                           "Reply %d of %d" % (len(order) + 1, len(ids)))
                reply = envelope.reply
                require(reply.call_id in ids, "Reply for call id %d, which was never sent" % reply.call_id)
                require(reply.call_id not in seen, "second Reply for call id %d" % reply.call_id)
                seen.add(reply.call_id)
                order.append(reply.call_id)
                require(status_code(reply) == OK, "call %d: %s" % (reply.call_id, describe_reply(reply)))
                payload = diag.PingResponse.FromString(reply.response).payload
                require(payload == b"call %d" % reply.call_id,
                        "call %d answered with payload %r" % (reply.call_id, payload))
            out_of_order = False
            for position, call_id in enumerate(order):
                if call_id in delayed and any(other > call_id and other not in delayed for other in order[:position]):
                    out_of_order = True
                    break
            require(out_of_order, "replies arrived in call order; expected delayed calls to be overtaken")

    # 4
    def check_unknown_method(self):
        with self.session() as conn:
            conn.call(2, SERVICE + "/NoSuchMethod", b"")
            reply = conn.recv_reply(2)
            require(status_code(reply) == UNIMPLEMENTED, "status %s, expected 12" % describe_reply(reply))
            require("METHOD_UNKNOWN" in reason_codes(reply.status), "reasons %s lack METHOD_UNKNOWN" % reason_codes(reply.status))
            self.ping_works(conn, 3)

    # 5
    def check_bad_request(self):
        with self.session() as conn:
            conn.call(4, PING, b"\xff\xff\xff")
            reply = conn.recv_reply(4)
            require(status_code(reply) == INVALID_ARGUMENT, "status %s, expected 3" % describe_reply(reply))
            self.ping_works(conn, 5)

    # 6
    def check_control_ping(self):
        with self.session() as conn:
            conn.send(pb.Envelope(ping=pb.Ping(nonce=77)))
            pong = conn.recv_body("pong").pong
            require(pong.nonce == 77, "Pong nonce %d, expected 77" % pong.nonce)

    # 7
    def check_health_anonymous(self):
        with self.connect() as conn:
            hello = conn.hello("")
            require(status_code(hello) == OK, "anonymous Hello refused: %s" % describe_status(hello.status))
            require(hello.role == "anonymous", "role %r, expected 'anonymous'" % hello.role)
            conn.call(6, HEALTH, diag.HealthRequest().SerializeToString())
            reply = conn.recv_reply(6)
            require(status_code(reply) == OK, "Health: %s" % describe_reply(reply))
            health = diag.HealthResponse.FromString(reply.response)
            require(health.status == diag.SERVING_STATUS_SERVING, "HealthResponse.status %d, expected 1 (SERVING)" % health.status)
            conn.call(7, PING, ping_request(b"anonymous"))
            reply = conn.recv_reply(7)
            require(status_code(reply) == UNAUTHENTICATED, "anonymous Ping: %s, expected 16" % describe_reply(reply))
            require("API_KEY_REQUIRED" in reason_codes(reply.status),
                    "anonymous Ping reasons %s lack API_KEY_REQUIRED" % reason_codes(reply.status))

    # 8
    def check_bad_key(self):
        with self.connect() as conn:
            reply = conn.hello("wrong")
            require(status_code(reply) == UNAUTHENTICATED, "HelloReply status %s, expected 16" % describe_status(reply.status))
            require("API_KEY_UNKNOWN" in reason_codes(reply.status), "reasons %s lack API_KEY_UNKNOWN" % reason_codes(reply.status))
            require(conn.wait_closed(), "server did not close the connection within %.0f s" % CLOSE_TIMEOUT)

    # 9
    def check_malformed_frame(self):
        with self.session() as conn:
            conn.send_raw(struct.pack(">I", 5) + b"\xff\xff\xff\xff\xff")
            self.expect_go_away_and_close(conn, INVALID_ARGUMENT, "ENVELOPE_MALFORMED")

    # 10
    def check_oversize_length(self, length):
        def check():
            with self.session() as conn:
                conn.send_raw(struct.pack(">I", length))
                self.expect_go_away_and_close(conn, RESOURCE_EXHAUSTED, "FRAME_TOO_LARGE")
        return check

    # 11
    def check_zero_length(self):
        with self.session() as conn:
            conn.send_raw(struct.pack(">I", 0))
            self.expect_go_away_and_close(conn, INVALID_ARGUMENT, "FRAME_EMPTY")

    # 12
    def check_call_before_hello(self):
        with self.connect() as conn:
            conn.call(8, PING, ping_request(b"too early"))
            self.expect_go_away_and_close(conn, FAILED_PRECONDITION, "HELLO_REQUIRED")

    # 13
    def check_cancel(self):
        with self.session() as conn:
            started = time.monotonic()
            conn.call(9, PING, ping_request(b"to be cancelled", 2000))
            conn.send(pb.Envelope(cancel=pb.CancelCall(call_id=9)))
            reply = conn.recv_reply(9, timeout=5)
            elapsed = time.monotonic() - started
            require(status_code(reply) == CANCELLED, "status %s, expected 1" % describe_reply(reply))
            require("CANCELLED_BY_CLIENT" in reason_codes(reply.status),
                    "reasons %s lack CANCELLED_BY_CLIENT" % reason_codes(reply.status))
            require(elapsed < 1.0, "CANCELLED arrived after %.2f s; the delay was 2 s" % elapsed)
            # Exactly one Reply per call: nothing more for call 9 once its delay would have run out.
            conn.call(10, PING, ping_request(b"after the delay", 2300))
            conn.recv_reply(10, timeout=5)
            late = [e for e in conn.skipped if e.WhichOneof("body") == "reply" and e.reply.call_id == 9]
            if late:
                raise CheckFailed("a second Reply for the cancelled call arrived: %s" % describe_reply(late[0].reply))

    # 14
    def check_deadline(self):
        with self.session() as conn:
            started = time.monotonic()
            conn.call(11, PING, ping_request(b"too slow", 1000), deadline_ms=100)
            reply = conn.recv_reply(11, timeout=5)
            elapsed = time.monotonic() - started
            require(status_code(reply) == DEADLINE_EXCEEDED, "status %s, expected 4" % describe_reply(reply))
            require(elapsed >= 0.09, "DEADLINE_EXCEEDED after only %.3f s; the deadline was 100 ms" % elapsed)
            require(elapsed < 1.0, "DEADLINE_EXCEEDED arrived after %.2f s; the deadline was 100 ms" % elapsed)

    # 15
    def put_stock(self, conn, call_id, sku, on_hand):
        conn.call(call_id, PUT_STOCK, stock.PutStockRequest(sku=sku, location="PY-WH", on_hand=on_hand).SerializeToString())
        reply = conn.recv_reply(call_id)
        require(status_code(reply) == OK, "PutStock failed: %s" % describe_reply(reply))

    def stream_items(self, conn, call_id, count):
        """The next `count` StreamItems of a call, decoded as StockUpdate."""
        items = []
        while len(items) < count:
            envelope = conn.recv_until(lambda e: e.WhichOneof("body") in ("stream_item", "reply") and
                                       getattr(e, e.WhichOneof("body")).call_id == call_id, what="StreamItem of call %d" % call_id)
            require(envelope.WhichOneof("body") == "stream_item",
                    "the watch ended early: %s" % describe_reply(envelope.reply))
            items.append(watch.StockUpdate.FromString(envelope.stream_item.message))
        return items

    def check_watch_stock(self):
        sku = "PY-%d" % int(time.time() * 1000)
        with self.session() as admin, self.session() as watcher:
            self.put_stock(admin, 1, sku, 10)
            # From now: a snapshot of the pool first.
            watcher.call(20, WATCH_STOCK, watch.WatchStockRequest(skus=[watch.StockCursor(sku=sku)]).SerializeToString())
            (snapshot,) = self.stream_items(watcher, 20, 1)
            require(snapshot.cause == "SNAPSHOT" and snapshot.on_hand == 10 and snapshot.seq == 1,
                    "snapshot %s" % snapshot)
            # Each committed change arrives as the next StreamItem, numbered after the last.
            self.put_stock(admin, 2, sku, 7)
            self.put_stock(admin, 3, sku, 5)
            changes = self.stream_items(watcher, 20, 2)
            require([(c.seq, c.on_hand, c.cause) for c in changes] == [(2, 7, "SET_ON_HAND"), (3, 5, "SET_ON_HAND")],
                    "changes %s" % changes)
            require(changes[1].available == 5, "available %d, expected 5" % changes[1].available)
            # CancelCall ends the stream with one Reply CANCELLED.
            watcher.send(pb.Envelope(cancel=pb.CancelCall(call_id=20)))
            reply = watcher.recv_reply(20)
            require(status_code(reply) == CANCELLED, "after CancelCall: %s" % describe_reply(reply))
            # Resuming after seq 1 replays exactly the changes after it, then goes on live.
            watcher.call(21, WATCH_STOCK, watch.WatchStockRequest(skus=[watch.StockCursor(sku=sku, after_seq=1)]).SerializeToString())
            replayed = self.stream_items(watcher, 21, 2)
            require([c.seq for c in replayed] == [2, 3], "replayed %s" % [c.seq for c in replayed])
            self.put_stock(admin, 4, sku, 9)
            (live,) = self.stream_items(watcher, 21, 1)
            require(live.seq == 4 and live.on_hand == 9, "live change %s" % live)
            # A sequence number past the history is refused.
            watcher.call(22, WATCH_STOCK, watch.WatchStockRequest(skus=[watch.StockCursor(sku=sku, after_seq=99)]).SerializeToString())
            reply = watcher.recv_reply(22)
            require(status_code(reply) == OUT_OF_RANGE and "WATCH_SEQ_AHEAD" in reason_codes(reply.status),
                    "after_seq 99: %s" % describe_reply(reply))

    # 16
    def check_stats(self):
        with self.session() as conn:
            conn.call(30, PING, ping_request(b"counted"))
            conn.recv_reply(30)
            conn.call(31, STATS, diag.StatsRequest().SerializeToString())
            reply = conn.recv_reply(31)
            require(status_code(reply) == OK, "Stats failed: %s" % describe_reply(reply))
            stats = diag.StatsResponse.FromString(reply.response)
            pings = [m for m in stats.methods if m.method == PING]
            require(pings and pings[0].calls >= 1 and pings[0].p99_ms >= pings[0].p50_ms, "Ping figures %s" % pings)
            require(len(stats.shards) >= 1, "no shards in Stats")

    def run_all(self):
        self.run("hello", self.check_hello)
        self.run("ping", self.check_ping)
        self.run("concurrent", self.check_concurrent)
        self.run("unknown_method", self.check_unknown_method)
        self.run("bad_request", self.check_bad_request)
        self.run("control_ping", self.check_control_ping)
        self.run("health_anonymous", self.check_health_anonymous)
        self.run("bad_key", self.check_bad_key)
        self.run("malformed_frame", self.check_malformed_frame)
        self.run("oversize_length", self.check_oversize_length(DEFAULT_MAX_FRAME_BYTES + 1))
        self.run("oversize_length_ffffffff", self.check_oversize_length(0xFFFFFFFF))
        self.run("zero_length", self.check_zero_length)
        self.run("call_before_hello", self.check_call_before_hello)
        self.run("cancel", self.check_cancel)
        self.run("deadline", self.check_deadline)
        self.run("watch_stock", self.check_watch_stock)
        self.run("stats", self.check_stats)


def main():
    parser = argparse.ArgumentParser(description="Interop checks for pcancel wire protocol v1.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True, help="an API key with role admin")
    parser.add_argument("--proto-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto"),
                        help="directory holding pcancel/v1/*.proto (default: the repository's proto/)")
    args = parser.parse_args()

    interop = Interop(args.host, args.port, args.api_key)
    with tempfile.TemporaryDirectory(prefix="pcancel-interop-") as out_dir:
        try:
            load_protos(os.path.abspath(args.proto_dir), out_dir)
        except Exception as error:
            print("FAIL setup: %s" % error, flush=True)
            print("interop: 0 passed, 1 failed", flush=True)
            return 1
        interop.run_all()
    print("interop: %d passed, %d failed" % (interop.passed, interop.failed), flush=True)
    return 0 if interop.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
