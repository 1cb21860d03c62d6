import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import PartialCancelDomain
import PartialCancelStorage

/// Where refund allocations go and how (config `payments`, docs/PAYMENTS.md).
public struct PaymentConfiguration: Sendable, Hashable {
    public enum Adapter: Sendable, Hashable {
        /// The embedded default: a JSON-lines ledger (nil: `payments.jsonl` in the data directory).
        case ledger(path: String?)
        /// A payment service: POSTed to `url`, signed with `secret` (Standard Webhooks, `whsec_…`).
        case http(url: String, secret: String)
    }

    public var adapter: Adapter = .ledger(path: nil)
    /// false holds every allocation PENDING, unsent (an operator pausing refunds during a payment
    /// service's outage; tests that are about something else).
    public var deliver = true
    /// What a FAILED allocation gets.
    public var fallback: RefundAllocation.Fallback = .storeCredit
    /// One request's time limit.
    public var timeoutMs = 10_000
    public var maxAttempts = 8
    /// Backoff before attempt n+1: min(cap, base × 2^n), jittered to 50–100 %.
    public var backoffBaseMs = 1000
    public var backoffCapMs = 300_000
    public var pollIntervalMs = 200
    /// Allocations one pass sends.
    public var batchSize = 100

    public init() {}

    func backoffMs(afterAttempts attempts: Int) -> Int64 {
        NotificationConfiguration.backoffMs(afterAttempts: attempts, baseMs: backoffBaseMs, capMs: backoffCapMs)
    }

    /// The ledger's file for a data directory.
    static func ledgerPath(forDataDirectory directory: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent("payments.jsonl").path
    }
}

/// One allocation as the payment service receives it: a JSON object (docs/PAYMENTS.md).
enum PaymentInstruction {
    static func body(_ allocation: RefundAllocation) -> [UInt8] {
        let fields: [String: Any] = [
            "type": "refund.allocation", "allocation_id": allocation.id, "refund_id": allocation.refundID,
            "order_id": allocation.orderID, "cancellation_id": allocation.cancellationID,
            "tender_id": allocation.tenderID, "method": allocation.method.rawValue, "amount": allocation.amount,
            "currency": allocation.currency, "replaces": allocation.replaces,
        ]
        return (try? Array(JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]))) ?? []
    }
}

/// What the payment service answered for one allocation.
enum PaymentReply: Sendable, Hashable {
    /// The result: succeeded, or failed with the service's reason (a permanent refusal included).
    case settled(succeeded: Bool, reason: String)
    /// Taken; the result comes later (RecordRefundResult).
    case accepted
    /// Not taken this time (a timeout, a 5xx, no connection): try again later.
    case retry(String)
}

/// Moves money for refund allocations: the local ledger or a payment service.
protocol PaymentsPort: Sendable {
    /// Sends a batch; one reply per allocation, in order.
    func send(_ batch: [RefundAllocation]) async -> [PaymentReply]
    func shutdown() async
}

/// The embedded default: appends one JSON line per allocation to a file, synced once per batch,
/// and settles at once. Like a payment service it applies an allocation id once: an allocation sent
/// again after a crash (written, not yet marked) is answered from the line already there. It keeps
/// the ids of its latest lines to tell (a crash leaves at most the last batches unmarked).
final class LedgerPayments: PaymentsPort {
    private let path: String
    private let recent = NIOLockedValueBox(RecentIDs(capacity: 20_000))
    private let writer = NIOLockedValueBox<Void>(())

    struct RecentIDs {
        let capacity: Int
        var order: [String] = []
        var ids = Set<String>()

        mutating func insert(_ id: String) {
            guard ids.insert(id).inserted else { return }
            order.append(id)
            if order.count > capacity {
                let drop = order.count - capacity
                for old in order[..<drop] { ids.remove(old) }
                order.removeFirst(drop)
            }
        }
    }

    init(path: String) {
        self.path = path
        // The ids of the file's last lines (its last 4 MiB).
        guard let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > 4 << 20 ? size - (4 << 20) : 0)
        let tail = (try? handle.readToEnd()) ?? Data()
        recent.withLockedValue { recent in
            for line in tail.split(separator: UInt8(ascii: "\n")) {
                if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                    let id = object["allocation_id"] as? String
                {
                    recent.insert(id)
                }
            }
        }
    }

    func send(_ batch: [RefundAllocation]) async -> [PaymentReply] {
        let fresh = recent.withLockedValue { recent in batch.filter { !recent.ids.contains($0.id) } }
        var lines: [UInt8] = []
        for allocation in fresh {
            lines += PaymentInstruction.body(allocation)
            lines.append(UInt8(ascii: "\n"))
        }
        do {
            if !lines.isEmpty { try append(lines) }
        } catch {
            return batch.map { _ in .retry("ledger \(path): \(error)") }
        }
        recent.withLockedValue { recent in for allocation in fresh { recent.insert(allocation.id) } }
        return batch.map { _ in .settled(succeeded: true, reason: "") }
    }

    /// One write and one fsync for the whole batch.
    private func append(_ bytes: [UInt8]) throws {
        try writer.withLockedValue { _ in
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw LedgerError("cannot open: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                guard written > 0 else { throw LedgerError("cannot write: \(String(cString: strerror(errno)))") }
                offset += written
            }
            guard fsync(fd) == 0 else { throw LedgerError("cannot sync: \(String(cString: strerror(errno)))") }
        }
    }

    struct LedgerError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    func shutdown() async {}
}

/// A payment service over HTTP: each allocation POSTed as JSON, signed the Standard Webhooks way
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,base64(HMAC-SHA256)`), with the
/// allocation id as `Idempotency-Key`.
final class HTTPPayments: PaymentsPort {
    private let poster: SignedPoster
    private let url: String
    private let signer: WebhookSigner

    init(url: String, secret: String, timeoutMs: Int, group: any EventLoopGroup) throws {
        self.url = url
        signer = try WebhookSigner(secret: secret)
        poster = SignedPoster(timeoutMs: timeoutMs, group: group)
    }

    func send(_ batch: [RefundAllocation]) async -> [PaymentReply] {
        await withTaskGroup(of: (Int, PaymentReply).self) { group in
            for (index, allocation) in batch.enumerated() {
                group.addTask { (index, await self.send(allocation)) }
            }
            var replies = [PaymentReply](repeating: .retry("not sent"), count: batch.count)
            for await (index, reply) in group { replies[index] = reply }
            return replies
        }
    }

    private func send(_ allocation: RefundAllocation) async -> PaymentReply {
        do {
            let (status, text) = try await poster.post(
                PaymentInstruction.body(allocation),
                to: url,
                id: allocation.id,
                signer: signer,
                headers: [("idempotency-key", allocation.id)],
                replyLimit: 64 * 1024
            )
            return Self.reply(status: status, body: text)
        } catch {
            return .retry("\(url): \(error)")
        }
    }

    /// How a reply reads (docs/PAYMENTS.md): 200, 201 and 409 (applied before) carry the result,
    /// 202 means accepted, other 4xx are a permanent refusal, the rest is worth a retry.
    static func reply(status: HTTPResponseStatus, body: String) -> PaymentReply {
        let object = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        let state = (object?["status"] as? String)?.lowercased()
        let reason = object?["reason"] as? String ?? ""
        switch status.code {
        case 200, 201, 409:
            switch state {
            case "succeeded": return .settled(succeeded: true, reason: "")
            case "failed":
                return .settled(succeeded: false, reason: reason.isEmpty ? "the payment service failed it" : reason)
            case "pending", "accepted": return .accepted
            default: return .retry("HTTP \(status.code) without a status: \(body.prefix(200))")
            }
        case 202:
            return .accepted
        case 400..<500 where status.code != 408 && status.code != 429:
            return .settled(
                succeeded: false,
                reason:
                    "refused by the payment service: HTTP \(status.code) \(reason.isEmpty ? String(body.prefix(200)) : reason)"
            )
        default:
            return .retry("HTTP \(status.code) \(body.prefix(200))")
        }
    }

    func shutdown() async { await poster.shutdown() }
}

/// Signed JSON POSTs, for the payment service and the webhook subscribers alike: one HTTP client
/// (no redirects, the connect time bounded by the request's), the Standard Webhooks headers.
final class SignedPoster: Sendable {
    private let client: HTTPClient
    private let timeout: TimeAmount

    init(timeoutMs: Int, group: any EventLoopGroup) {
        timeout = .milliseconds(Int64(timeoutMs))
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .milliseconds(Int64(min(timeoutMs, 5000))))
        configuration.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroup: group, configuration: configuration)
    }

    /// POSTs `body` signed as message `id`; the reply's status and up to `replyLimit` bytes of it.
    func post(
        _ body: [UInt8],
        to url: String,
        id: String,
        signer: WebhookSigner,
        headers extra: [(String, String)] = [],
        replyLimit: Int
    ) async throws -> (status: HTTPResponseStatus, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        for (name, value) in extra { request.headers.add(name: name, value: value) }
        for (name, value) in signer.headers(id: id, timestamp: Int64(Date().timeIntervalSince1970), body: body) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: timeout)
        return (response.status, String(buffer: try await response.body.collect(upTo: replyLimit)))
    }

    func shutdown() async { try? await client.shutdown() }
}

/// Standard Webhooks signatures: HMAC-SHA256 over `id.timestamp.body` with the secret's bytes
/// (`whsec_` and base64), sent as `v1,` and the base64 of the MAC.
struct WebhookSigner: Sendable {
    private let key: [UInt8]

    init(secret: String) throws {
        let encoded = secret.hasPrefix("whsec_") ? String(secret.dropFirst(6)) : secret
        guard let bytes = Data(base64Encoded: encoded), !bytes.isEmpty else {
            throw ConfigurationError("payments.secret must be whsec_ and base64 (Standard Webhooks)")
        }
        key = Array(bytes)
    }

    func signature(id: String, timestamp: Int64, body: [UInt8]) -> String {
        var message = Array("\(id).\(timestamp).".utf8)
        message += body
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key))
        return "v1," + Data(mac).base64EncodedString()
    }

    func headers(id: String, timestamp: Int64, body: [UInt8]) -> [(String, String)] {
        [
            ("webhook-id", id), ("webhook-timestamp", "\(timestamp)"),
            ("webhook-signature", signature(id: id, timestamp: timestamp, body: body)),
        ]
    }
}

/// Sends due refund allocations to the payments port and records what it answers: settled (with the
/// fallback for a failure), accepted, or retried with capped jittered backoff until a dead letter.
final class PaymentDelivery: Sendable {
    private let storage: any StorePort
    private let configuration: PaymentConfiguration
    private let port: any PaymentsPort
    private let loop: any EventLoop
    private let logger: Logger
    private let polling: PollingLoop

    init(
        storage: any StorePort,
        configuration: PaymentConfiguration,
        dataDirectory: String,
        group: any EventLoopGroup,
        logger: Logger
    ) throws {
        self.storage = storage
        self.configuration = configuration
        self.loop = group.next()
        self.logger = logger
        polling = PollingLoop(loop: loop)
        switch configuration.adapter {
        case .ledger(let path):
            port = LedgerPayments(path: path ?? PaymentConfiguration.ledgerPath(forDataDirectory: dataDirectory))
        case .http(let url, let secret):
            port = try HTTPPayments(url: url, secret: secret, timeoutMs: configuration.timeoutMs, group: group)
        }
    }

    func start() {
        guard configuration.deliver else { return }
        polling.start(every: .milliseconds(Int64(configuration.pollIntervalMs))) { [self] in await pass() }
    }

    /// Stops polling and waits for the pass in flight, then closes the port.
    func stop() async {
        await polling.stop()
        await port.shutdown()
    }

    /// One pass: the due allocations, sent as one batch, each reply recorded.
    func pass() async {
        do {
            let due = try await storage.duePayments(
                nowMs: storage.clock.nowMs(),
                limit: configuration.batchSize,
                on: loop
            ).get()
            guard !due.isEmpty else { return }
            let replies = await port.send(due.map(\.allocation))
            for (payment, reply) in zip(due, replies) { try await record(reply, for: payment) }
        } catch {
            logger.error("payment delivery failed", metadata: ["error": "\(error)"])
        }
    }

    private func record(_ reply: PaymentReply, for payment: DuePayment) async throws {
        switch reply {
        case .settled(let succeeded, let reason):
            _ = try await Self.settle(
                payment.allocation.id,
                succeeded: succeeded,
                reason: reason,
                actor: "payments",
                fallback: configuration.fallback,
                storage: storage,
                on: loop
            )
        case .accepted:
            try await storage.paymentAccepted(payment, on: loop).get()
        case .retry(let error):
            if payment.attempts + 1 >= configuration.maxAttempts {
                logger.warning(
                    "refund allocation dead-lettered",
                    metadata: ["allocation.id": "\(payment.allocation.id)", "error": "\(error)"]
                )
                try await storage.paymentDead(payment, error: error, on: loop).get()
            } else {
                let next = storage.clock.nowMs() + configuration.backoffMs(afterAttempts: payment.attempts)
                try await storage.paymentRetry(payment, error: error, nextAttemptMs: next, on: loop).get()
            }
        }
    }

    /// Records a result for an allocation (from the port, or RecordRefundResult).
    static func settle(
        _ id: String,
        succeeded: Bool,
        reason: String,
        actor: String,
        fallback: RefundAllocation.Fallback,
        storage: any StorePort,
        on loop: any EventLoop
    ) async throws -> PaymentSettlement? {
        let clock = storage.clock
        return try await storage.settlePayment(id, actor: actor, on: loop) { allocation in
            PaymentSettlement.settle(
                allocation,
                succeeded: succeeded,
                reason: reason,
                fallback: fallback,
                nowMs: clock.nowMs()
            )
        }.get()
    }
}
