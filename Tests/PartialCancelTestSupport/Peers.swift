import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real payment service for the tests: Tests/Payments/payment_service.py (Python's HTTP server,
/// signatures checked with the Standard Webhooks reference library), on a free port.
public final class PaymentServiceProcess: @unchecked Sendable {
    public let process = Process()
    public let port: Int
    /// A Standard Webhooks secret: `whsec_` and base64.
    public let secret = "whsec_" + Data((0..<24).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()

    public static func start() async throws -> PaymentServiceProcess {
        try await offCooperativePool { UncheckedBox(try PaymentServiceProcess()) }.value
    }

    private init() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Payments/payment_service.py")
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, secret]
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try launch(process)
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while !text.contains("\n") {
            guard Date() < deadline, process.isRunning else {
                throw ProcessFailure("the payment service did not start (pip install standardwebhooks): \(text)")
            }
            text += String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first, line.hasPrefix("PORT "), let port = Int(line.dropFirst(5))
        else { throw ProcessFailure("the payment service said '\(text)'") }
        self.port = port
    }

    public var url: String { "http://127.0.0.1:\(port)/refunds" }

    /// What the service saw: requests per allocation, applied allocations, refused signatures.
    public func state() async throws -> (
        requests: [String: Int], applied: [String: (status: String, amount: Int64)], badSignatures: Int
    ) {
        let port = self.port
        let body = try await offCooperativePool { () -> String in
            let connection = try RawConnection(port: port)
            connection.send(Array("GET /state HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
            let text = String(decoding: connection.readUntilClosed(), as: UTF8.self)
            return text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        }
        let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] ?? [:]
        let requests = (object["requests"] as? [String: Int]) ?? [:]
        var applied: [String: (status: String, amount: Int64)] = [:]
        for (id, value) in (object["applied"] as? [String: [String: Any]]) ?? [:] {
            applied[id] = (value["status"] as? String ?? "", Int64(value["amount"] as? Int ?? 0))
        }
        return (requests, applied, (object["bad_signatures"] as? [Any])?.count ?? 0)
    }

    deinit { kill(process.processIdentifier, SIGKILL) }
}

/// A touchpoint receiving webhooks for the tests: Tests/Webhooks/receiver.py, one path per
/// subscription (`/hooks/NAME`), signatures checked with the Standard Webhooks reference library.
public final class WebhookReceiverProcess: @unchecked Sendable {
    public let process = Process()
    public let port: Int
    /// Each subscription's secret.
    public let secrets: [String: String]

    public static func start(subscriptions: [String], failFirst: Int = 0) async throws -> WebhookReceiverProcess {
        try await offCooperativePool { UncheckedBox(try WebhookReceiverProcess(subscriptions, failFirst)) }.value
    }

    private init(_ subscriptions: [String], _ failFirst: Int) throws {
        var secrets: [String: String] = [:]
        for name in subscriptions {
            secrets[name] = "whsec_" + Data((0..<24).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        }
        self.secrets = secrets
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Webhooks/receiver.py")
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            ["python3", script.path] + secrets.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            + ["--fail", "\(failFirst)"]
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try launch(process)
        var text = ""
        let deadline = Date().addingTimeInterval(20)
        while !text.contains("\n") {
            guard Date() < deadline, process.isRunning else {
                throw ProcessFailure("the webhook receiver did not start (pip install standardwebhooks): \(text)")
            }
            text += String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        }
        guard let line = text.split(separator: "\n").first, line.hasPrefix("PORT "), let port = Int(line.dropFirst(5))
        else { throw ProcessFailure("the webhook receiver said '\(text)'") }
        self.port = port
    }

    public func url(_ subscription: String) -> String { "http://127.0.0.1:\(port)/hooks/\(subscription)" }

    /// What arrived per subscription, in arrival order, and the signatures that did not verify.
    public func state() async throws -> (received: [String: [[String: Any]]], badSignatures: [String]) {
        let port = self.port
        let body = try await offCooperativePool { () -> String in
            let connection = try RawConnection(port: port)
            connection.send(Array("GET /state HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
            let text = String(decoding: connection.readUntilClosed(), as: UTF8.self)
            return text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
        }
        let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] ?? [:]
        return (
            (object["received"] as? [String: [[String: Any]]]) ?? [:],
            (object["bad_signatures"] as? [String]) ?? []
        )
    }

    deinit { kill(process.processIdentifier, SIGKILL) }
}
