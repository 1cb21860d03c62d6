import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// Forged confirmation tokens over the wire: none is ever accepted; each request locks itself after
/// five wrong tokens, and a caller is cut off after `token_failures_per_caller` wrong tokens across
/// all requests, counted where the token is compared (calls in flight included), so the rest are
/// refused without a token being looked at.
@Suite("Token brute force")
struct BruteForceTests {
    /// Forged tokens sent; PCANCEL_BRUTE_FORCE_TOKENS=1000000 for the long form.
    static let attempts = ProcessInfo.processInfo.environment["PCANCEL_BRUTE_FORCE_TOKENS"].flatMap(Int.init) ?? 100_000

    static let hexDigits = Array("0123456789abcdef")

    @Test("forged tokens, pipelined over one connection, are all refused; the customer's own tokens still work")
    func forgedTokens() async throws {
        // One window for the whole run, however long it takes.
        let server = try await TestServer.start { $0.limits.tokenFailureWindowMs = 3_600_000 }
        let admin = try await server.client(key: TestServer.adminKey)
        var pending: [String] = []
        for external in ["W-1001", "W-1002"] {
            let payload = SamplePayloads.web.replacingOccurrences(of: "W-1001", with: external)
            _ = try await admin.call(
                Methods.ingestOrder,
                IngestOrderRequest(channel: "web", payload: ByteBuffer(string: payload)),
                as: IngestOrderResponse.self
            )
            for lines in [
                [CancelLine(lineID: "L1", quantity: 1)], [CancelLine(lineID: "L2b")], [CancelLine(lineID: "L3")],
            ] {
                pending.append(
                    try await admin.call(
                        Methods.requestCancellation,
                        RequestCancellationRequest(
                            orderID: "web-\(external)",
                            lines: lines,
                            reasonCode: "BRUTE_FORCE_TEST"
                        ),
                        as: RequestCancellationResponse.self
                    ).cancellation.id
                )
            }
        }

        // The attacker: a valid key of another role, spreading forged tokens over every request.
        let attacker = try await server.client(key: TestServer.agentKey)
        let started = Date()
        var outcomes: [String: Int] = [:]
        var sent = 0
        while sent < Self.attempts {
            // A batch in flight at once, awaited together: one wake-up per batch, not per call.
            let batch = (sent..<min(sent + 256, Self.attempts)).map { index in
                let token = String((0..<64).map { _ in Self.hexDigits.randomElement()! })
                let request = ConfirmCancellationRequest(id: pending[index % pending.count], token: token)
                return attacker.start(Methods.confirmCancellation, request: request.encoded()).response
            }
            sent += batch.count
            for result in try await EventLoopFuture.whenAllComplete(batch, on: attacker.eventLoop).get() {
                switch result {
                case .success: outcomes["ACCEPTED", default: 0] += 1
                case .failure(let error):
                    outcomes[(error as? ClientError)?.status.reasons.first?.code ?? "\(error)", default: 0] += 1
                }
            }
        }
        let seconds = Date().timeIntervalSince(started)
        print(
            "brute force: \(sent) forged tokens in \(String(format: "%.1f", seconds)) s (\(Int(Double(sent) / seconds))/s): \(outcomes.sorted { $0.key < $1.key })"
        )
        #expect(outcomes["ACCEPTED"] == nil)
        // Exactly the first 20 wrong tokens reached a token comparison, calls in flight included;
        // everything after was refused without a token being looked at.
        let reached = (outcomes["TOKEN_INVALID"] ?? 0) + (outcomes["REQUEST_LOCKED"] ?? 0)
        #expect(reached == 20)
        #expect(outcomes["TOKEN_ATTEMPTS_LIMITED"] == Self.attempts - reached)

        // Nothing was refunded; the customer's portal is another caller: it requests again and
        // confirms with the real token.
        let portal = try await server.client(key: TestServer.portalKey)
        for order in ["web-W-1001", "web-W-1002"] {
            #expect(try await server.server.storage.refunds(orderID: order, on: admin.eventLoop).get().isEmpty)
        }
        _ = try await admin.call(
            Methods.ingestOrder,
            IngestOrderRequest(
                channel: "web",
                payload: ByteBuffer(string: SamplePayloads.web.replacingOccurrences(of: "W-1001", with: "W-1003"))
            ),
            as: IngestOrderResponse.self
        )
        let fresh = try await portal.call(
            Methods.requestCancellation,
            RequestCancellationRequest(
                orderID: "web-W-1003",
                lines: [CancelLine(lineID: "L1", quantity: 1)],
                reasonCode: "BRUTE_FORCE_TEST"
            ),
            as: RequestCancellationResponse.self,
            metadata: Metadata(onBehalfOf: "acct-42")
        ).cancellation
        let token = try await ConfirmationTests.token(portal, for: fresh.id)
        #expect(try await ConfirmationTests.confirm(portal, fresh.id, token).refund != nil)
        for client in [admin, attacker, portal] { await client.close() }
        try await server.stop()
    }

    @Test(
        "2,000 wrong tokens pipelined on one connection without waiting: no more than the limit reach a token comparison"
    )
    func pipelinedWrongTokens() async throws {
        let server = try await TestServer.start { $0.limits.tokenFailureWindowMs = 3_600_000 }
        let admin = try await server.client(key: TestServer.adminKey)
        _ = try await admin.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: "web", payload: ByteBuffer(string: SamplePayloads.web)),
            as: IngestOrderResponse.self
        )
        var pending: [String] = []
        for lines in [[CancelLine(lineID: "L1", quantity: 1)], [CancelLine(lineID: "L2b")], [CancelLine(lineID: "L3")]]
        {
            pending.append(
                try await admin.call(
                    Methods.requestCancellation,
                    RequestCancellationRequest(orderID: "web-W-1001", lines: lines, reasonCode: "BRUTE_FORCE_TEST"),
                    as: RequestCancellationResponse.self
                ).cancellation.id
            )
        }
        let attacker = try await server.client(key: TestServer.agentKey)
        // Every call is written before any answer is awaited: all 2,000 are in flight together.
        let calls = (0..<2_000).map { index in
            let token = String((0..<64).map { _ in Self.hexDigits.randomElement()! })
            return attacker.start(
                Methods.confirmCancellation,
                request: ConfirmCancellationRequest(id: pending[index % pending.count], token: token).encoded()
            ).response
        }
        var outcomes: [String: Int] = [:]
        for result in try await EventLoopFuture.whenAllComplete(calls, on: attacker.eventLoop).get() {
            switch result {
            case .success: outcomes["ACCEPTED", default: 0] += 1
            case .failure(let error):
                outcomes[(error as? ClientError)?.status.reasons.first?.code ?? "\(error)", default: 0] += 1
            }
        }
        print("pipelined brute force: \(outcomes.sorted { $0.key < $1.key })")
        let limit = 20  // limits.token_failures_per_caller, by default
        let reached = (outcomes["TOKEN_INVALID"] ?? 0) + (outcomes["REQUEST_LOCKED"] ?? 0)
        #expect(outcomes["ACCEPTED"] == nil)
        #expect(reached <= limit)
        #expect(outcomes["TOKEN_ATTEMPTS_LIMITED"] == 2_000 - reached)
        // The requests counted what reached them, and no more.
        var attempts = 0
        for id in pending {
            attempts += Int(
                try await admin.call(
                    Methods.getCancellation,
                    GetCancellationRequest(id: id),
                    as: GetCancellationResponse.self
                ).cancellation.failedAttempts
            )
        }
        #expect(attempts <= limit)
        for client in [admin, attacker] { await client.close() }
        try await server.stop()
    }

    @Test(
        "the wrong-token limit is per window: once the window has passed (on the server's clock), the caller may try again"
    )
    func windowReopens() async throws {
        let clock = ManualClock()
        let server = try await TestServer.start(clock: clock.clock) {
            $0.limits.tokenFailuresPerCaller = 3
            $0.limits.tokenFailureWindowMs = 60_000
        }
        let admin = try await server.client(key: TestServer.adminKey)
        _ = try await admin.call(
            Methods.ingestOrder,
            IngestOrderRequest(channel: "web", payload: ByteBuffer(string: SamplePayloads.web)),
            as: IngestOrderResponse.self
        )
        let ids = try await [[CancelLine(lineID: "L1", quantity: 1)], [CancelLine(lineID: "L2b")]].asyncMap { lines in
            try await admin.call(
                Methods.requestCancellation,
                RequestCancellationRequest(orderID: "web-W-1001", lines: lines, reasonCode: "WINDOW_TEST"),
                as: RequestCancellationResponse.self
            ).cancellation.id
        }
        let attacker = try await server.client(key: TestServer.agentKey)
        func attempt(_ id: String) async -> String {
            do {
                _ = try await attacker.call(
                    Methods.confirmCancellation,
                    ConfirmCancellationRequest(id: id, token: String(repeating: "0", count: 64)),
                    as: ConfirmCancellationResponse.self
                )
                return "ACCEPTED"
            } catch {
                return (error as? ClientError)?.status.reasons.first?.code ?? "\(error)"
            }
        }
        // Spread over two requests, so that no request locks (five wrong tokens lock one).
        var outcomes: [String] = []
        for index in 0..<4 { outcomes.append(await attempt(ids[index % 2])) }
        #expect(outcomes == ["TOKEN_INVALID", "TOKEN_INVALID", "TOKEN_INVALID", "TOKEN_ATTEMPTS_LIMITED"])
        clock.advance(byMs: 59_000)
        #expect(await attempt(ids[1]) == "TOKEN_ATTEMPTS_LIMITED")
        clock.advance(byMs: 1_000)
        #expect(await attempt(ids[1]) == "TOKEN_INVALID")
        for client in [admin, attacker] { await client.close() }
        try await server.stop()
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}
