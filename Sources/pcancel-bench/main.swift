// In-process micro-benchmarks of the intake path, without network: where does an ingest's time go?
// Usage: pcancel-bench [ITERATIONS]   (release build: swift build -c release --product pcancel-bench)
import Foundation
import Logging
import NIOCore
import NIOPosix
import PartialCancelDomain
import PartialCancelServer
import PartialCancelStorage
import PartialCancelWire

let iterations = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 2000 : 2000

func measure(_ name: String, _ count: Int = iterations, _ body: (Int) throws -> Void) rethrows {
    let start = DispatchTime.now().uptimeNanoseconds
    for index in 0..<count { try body(index) }
    let perCall = Double(DispatchTime.now().uptimeNanoseconds - start) / Double(count) / 1000
    print(
        "\(name.padding(toLength: 44, withPad: " ", startingAt: 0)) \(String(format: "%9.1f", perCall)) µs/op   (\(count) ops)"
    )
}

let payload = Array(SamplePayloads.web.utf8)
let intake = Intake()
let receivedAt = RFC3339.parse("2026-11-27T12:00:00Z")!  // a week after the sample was placed
let order = try intake.order(channel: "web", payload: payload, nowMs: receivedAt)
let encoder = JSONEncoder()
let decoder = JSONDecoder()
let encoded = try encoder.encode(order)

try measure("JSONReader.parse (JSONSerialization)") { _ in _ = try JSONReader.parse(payload) }
try measure("Intake.order (parse + map + price)") { _ in
    _ = try intake.order(channel: "web", payload: payload, nowMs: receivedAt)
}
try measure("JSONEncoder.encode(Order)") { _ in _ = try encoder.encode(order) }
try measure("JSONDecoder.decode(Order)") { _ in _ = try decoder.decode(Order.self, from: encoded) }
let body = try BodyCodec.encode(order)
try measure("BodyCodec.encode(Order) (stored body)") { _ in _ = try BodyCodec.encode(order) }
try measure("BodyCodec.decode(Order) (stored body)") { _ in _ = try BodyCodec.decode(Order.self, from: body) }
print("stored body of the sample order: \(body.count) bytes (JSON: \(encoded.count))")

// What every call pays for Stats and the Prometheus endpoint.
let metrics = ServerMetrics()
let statuses: [StatusCode] = [.ok, .ok, .ok, .notFound]
measure("ServerMetrics.record (per finished call)", iterations * 100) { index in
    metrics.record(
        method: Methods.ping,
        code: statuses[index & 3],
        reason: index & 3 == 3 ? "ORDER_NOT_FOUND" : nil,
        duration: .microseconds(Int64(index % 5000))
    )
}

let loop = MultiThreadedEventLoopGroup.singleton.next()
for synchronous in [Synchronous.normal, .full] {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pcancel-bench-\(UUID())").path
    var configuration = StorageConfiguration()
    configuration.shards = 1
    configuration.synchronous = synchronous
    let storage = try Storage.open(
        directory: directory,
        configuration: configuration,
        eventLoop: loop,
        logger: Logger(label: "bench")
    )
    try measure("Storage.ingest, 1 shard, \(synchronous.rawValue), one at a time", min(iterations, 1000)) { index in
        var copy = order
        copy.id = "web-B\(index)"
        copy.externalID = "B\(index)"
        _ = try storage.ingest(copy, actor: "bench", on: loop).wait()
    }
    try measure("Storage.order (read back), 1 shard", min(iterations, 1000)) { index in
        _ = try storage.order("web-B\(index % 100)", on: loop).wait()
    }
    storage.close()
    try? FileManager.default.removeItem(atPath: directory)
    try? FileManager.default.removeItem(atPath: TokenSealer.defaultKeyFile(forDataDirectory: directory))
}
