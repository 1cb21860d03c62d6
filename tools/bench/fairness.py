#!/usr/bin/env python3
"""Event-loop fairness: a neighbour's ping latency while another client sends heavy requests.

Speaks the wire protocol of docs/PROTOCOL.md with hand-encoded protobuf (field numbers from
proto/pcancel/v1), so it needs nothing but Python. For each phase it runs, for DURATION seconds,
one "neighbour" connection that sends small Pings one at a time and records each round trip,
while (except in the baseline phase) a "heavy" connection sends maximum-size requests back to
back (two in flight) and reads their replies. The heavy client runs in a process of its own:
as a thread it would hold the interpreter lock while it builds and joins 4 MiB buffers, and the
neighbour's timings would measure that lock instead of the server.

  baseline   nobody else
  lines      ValidateEligibility with as many lines as fit in a frame (refused at decode)
  unknown    Ping whose request is a frame full of unknown fields (refused at decode)
  ingest     IngestOrder with a JSON payload of nearly a frame (parsed off the event loop, refused)
  payload    Ping echoing a payload of nearly a frame (valid: the reply is as large)

Prints one line per phase: pings, p50/p99/max in ms, heavy requests sent, and p99 / baseline p99.

    fairness.py --port N --api-key KEY [--duration S] [--max-frame-bytes B] [--phases a,b]
"""

import argparse
import json
import multiprocessing
import socket
import struct
import sys
import time

SERVICE = "pcancel.v1.PartialCancellation/"


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_bytes(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def envelope_hello(api_key):
    hello = field_varint(1, 1) + field_bytes(2, b"fairness") + field_bytes(3, api_key.encode())
    return field_bytes(1, hello)


def envelope_call(call_id, method, request):
    call = field_varint(1, call_id) + field_bytes(2, (SERVICE + method).encode()) + field_bytes(5, request)
    return field_bytes(3, call)


def frame(body):
    return struct.pack(">I", len(body)) + body


class Connection:
    def __init__(self, port, api_key):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(frame(envelope_hello(api_key)))
        self.read_frame()  # HelloReply

    def read_exact(self, count):
        chunks = []
        while count:
            chunk = self.sock.recv(min(count, 1 << 20))
            if not chunk:
                raise ConnectionError("server closed the connection")
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    def read_frame(self):
        (length,) = struct.unpack(">I", self.read_exact(4))
        return self.read_exact(length)

    def close(self):
        self.sock.close()


def heavy_request(kind, max_frame):
    budget = max_frame - 256  # room for the envelope around the request
    if kind == "lines":
        line = field_bytes(1, b"L0000001") + field_varint(2, 1)
        entry = field_bytes(2, line)
        count = (budget - 16) // len(entry)
        return "ValidateEligibility", field_bytes(1, b"web-W-1001") + entry * count
    if kind == "unknown":
        unknown = varint(99 << 3) + varint(1)
        return "Ping", field_bytes(1, b"p") + unknown * ((budget - 8) // len(unknown))
    if kind == "ingest":
        numbers = ",".join(["1234567"] * ((budget - 200) // 8))
        document = '{"order_id": "W-FAIR", "numbers": [%s]}' % numbers
        return "IngestOrder", field_bytes(1, b"web") + field_bytes(2, document.encode())
    if kind == "payload":
        return "Ping", field_bytes(1, b"x" * (budget - 16))
    raise ValueError(kind)


def run_heavy(port, api_key, kind, max_frame, stop, sent):
    connection = Connection(port, api_key)
    method, request = heavy_request(kind, max_frame)
    call_id = 0
    in_flight = 0
    while not stop.is_set():
        while in_flight < 2:
            call_id += 1
            connection.sock.sendall(frame(envelope_call(call_id, method, request)))
            in_flight += 1
        connection.read_frame()
        in_flight -= 1
        with sent.get_lock():
            sent.value += 1
    connection.close()


def run_neighbour(port, api_key, duration):
    connection = Connection(port, api_key)
    request = field_bytes(1, b"n")
    latencies = []
    deadline = time.monotonic() + duration
    call_id = 0
    while time.monotonic() < deadline:
        call_id += 1
        started = time.perf_counter()
        connection.sock.sendall(frame(envelope_call(call_id, "Ping", request)))
        connection.read_frame()
        latencies.append(time.perf_counter() - started)
        time.sleep(0.002)
    connection.close()
    return latencies


def percentile(sorted_values, fraction):
    index = min(len(sorted_values) - 1, int(round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--max-frame-bytes", type=int, default=4 * 1024 * 1024)
    parser.add_argument("--phases", default="baseline,lines,unknown,ingest,payload")
    parser.add_argument("--json", action="store_true", help="print one JSON object per phase")
    args = parser.parse_args()

    baseline_p99 = None
    for phase in args.phases.split(","):
        stop = multiprocessing.Event()
        sent = multiprocessing.Value("q", 0)
        heavy = None
        if phase != "baseline":
            heavy = multiprocessing.Process(target=run_heavy, args=(args.port, args.api_key, phase, args.max_frame_bytes, stop, sent), daemon=True)
            heavy.start()
            time.sleep(0.5)  # let the heavy client get going
        latencies = sorted(run_neighbour(args.port, args.api_key, args.duration))
        stop.set()
        if heavy:
            heavy.join(timeout=30)
            if heavy.is_alive():
                heavy.terminate()
        p50, p99, worst = (percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000, latencies[-1] * 1000)
        if phase == "baseline":
            baseline_p99 = p99
        ratio = p99 / baseline_p99 if baseline_p99 else float("nan")
        if args.json:
            print(json.dumps({"phase": phase, "pings": len(latencies), "p50_ms": p50, "p99_ms": p99, "max_ms": worst,
                              "heavy_requests": sent.value, "p99_over_baseline": ratio}))
        else:
            print("%-9s pings=%-6d p50=%.3f ms p99=%.3f ms max=%.3f ms heavy=%-5d p99/baseline=%.1f"
                  % (phase, len(latencies), p50, p99, worst, sent.value, ratio))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
