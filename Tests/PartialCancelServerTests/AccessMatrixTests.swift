import Foundation
import NIOCore
import PartialCancelClient
import PartialCancelDomain
import PartialCancelTestSupport
import PartialCancelWire
import Testing

/// SPEC section 11 as a table: every method × every caller, each cell asserting whether access is
/// granted (any answer but a refusal of the caller) or refused with the expected status and reason.
/// The table is written out here, independently of the server's method registry, so that a change
/// of access rules shows up as a failing cell.
@Suite("Access matrix")
struct AccessMatrixTests {
    enum Caller: String, CaseIterable, CustomStringConvertible {
        case anonymous, service, agent
        case portalOwn = "portal (own account)"
        case portalOther = "portal (other account)"
        case admin
        var description: String { rawValue }
    }

    enum Expected: Equatable {
        case granted
        /// UNAUTHENTICATED API_KEY_REQUIRED, PERMISSION_DENIED ROLE_NOT_ALLOWED, or for a portal
        /// acting for another account the NOT_FOUND a missing order or request gets.
        case refused(StatusCode, String)
    }

    static let noKey = Expected.refused(.unauthenticated, "API_KEY_REQUIRED")
    static let role = Expected.refused(.permissionDenied, "ROLE_NOT_ALLOWED")
    /// Another account's order or request is answered as if it did not exist.
    static let account = Expected.refused(.notFound, "ORDER_NOT_FOUND")
    static let accountRequest = Expected.refused(.notFound, "CANCELLATION_NOT_FOUND")

    /// Expected outcome per method, in the order of `Caller.allCases`:
    /// anonymous, service, agent, portal (own), portal (other), admin.
    static let table: [(method: String, expected: [Expected])] = [
        (Methods.health, [.granted, .granted, .granted, .granted, .granted, .granted]),
        (Methods.ping, [noKey, .granted, .granted, .granted, .granted, .granted]),
        (Methods.ingestOrder, [noKey, .granted, role, role, role, .granted]),
        (Methods.getOrder, [noKey, .granted, .granted, .granted, account, .granted]),
        (Methods.putStock, [noKey, role, role, role, role, .granted]),
        (Methods.getStock, [noKey, .granted, .granted, .granted, .granted, .granted]),
        (Methods.listDeadLetters, [noKey, role, role, role, role, .granted]),
        (Methods.redriveDeadLetter, [noKey, role, role, role, role, .granted]),
        (Methods.validateEligibility, [noKey, .granted, .granted, .granted, account, .granted]),
        (Methods.requestCancellation, [noKey, .granted, .granted, .granted, account, .granted]),
        (Methods.getCancellation, [noKey, .granted, .granted, .granted, accountRequest, .granted]),
        // The inbox is always the named account's own: a portal acts for whichever customer it names.
        (Methods.listNotifications, [noKey, role, role, .granted, .granted, role]),
        (Methods.confirmCancellation, [noKey, .granted, .granted, .granted, accountRequest, .granted]),
        (Methods.declineCancellation, [noKey, .granted, .granted, .granted, accountRequest, .granted]),
        (Methods.releaseInventory, [noKey, .granted, role, role, role, .granted]),
        (Methods.stats, [noKey, .granted, .granted, role, role, .granted]),
        (Methods.watchOrder, [noKey, .granted, .granted, .granted, account, .granted]),
        (Methods.watchStock, [noKey, .granted, .granted, role, role, .granted]),
        (Methods.withdrawCancellation, [noKey, role, .granted, role, role, .granted]),
        (Methods.getDeadLetter, [noKey, role, role, role, role, .granted]),
        (Methods.discardDeadLetter, [noKey, role, role, role, role, .granted]),
        (Methods.recordFulfilmentEvents, [noKey, .granted, role, role, role, .granted]),
        (Methods.recordRefundResult, [noKey, .granted, role, role, role, .granted]),
    ]

    /// A request for each method that is valid in form, so that only access decides the refusal.
    static func request(_ method: String) -> ByteBuffer {
        let order = "web-W-1001"
        let cancellation = "web-W-1001/c1"
        let token = String(repeating: "0", count: 64)
        switch method {
        case Methods.health: return HealthRequest().encoded()
        case Methods.ping: return PingRequest(payload: ByteBuffer(), delayMs: 0).encoded()
        case Methods.ingestOrder:
            return IngestOrderRequest(channel: "web", payload: ByteBuffer(string: SamplePayloads.web)).encoded()
        case Methods.getOrder: return GetOrderRequest(orderID: order).encoded()
        case Methods.putStock: return PutStockRequest(sku: "MUG-01", location: "WH-EAST", onHand: 120).encoded()
        case Methods.getStock: return GetStockRequest(sku: "MUG-01").encoded()
        case Methods.listDeadLetters: return ListDeadLettersRequest().encoded()
        case Methods.redriveDeadLetter: return RedriveDeadLetterRequest(id: "dl-0-999").encoded()
        case Methods.validateEligibility:
            return ValidateEligibilityRequest(orderID: order, lines: [CancelLine(lineID: "L1", quantity: 1)]).encoded()
        case Methods.requestCancellation:
            return RequestCancellationRequest(
                orderID: order,
                lines: [CancelLine(lineID: "L2b")],
                reasonCode: "ACCESS_TEST"
            ).encoded()
        case Methods.getCancellation: return GetCancellationRequest(id: cancellation).encoded()
        case Methods.listNotifications: return ListNotificationsRequest(limit: 1).encoded()
        case Methods.confirmCancellation: return ConfirmCancellationRequest(id: cancellation, token: token).encoded()
        case Methods.declineCancellation: return DeclineCancellationRequest(id: cancellation, token: token).encoded()
        case Methods.releaseInventory: return ReleaseInventoryRequest(id: cancellation).encoded()
        case Methods.stats: return StatsRequest().encoded()
        case Methods.watchOrder: return WatchOrderRequest(orderID: order).encoded()
        case Methods.watchStock: return WatchStockRequest(skus: [StockCursor(sku: "MUG-01")]).encoded()
        case Methods.withdrawCancellation:
            return WithdrawCancellationRequest(id: cancellation, reason: "access test").encoded()
        case Methods.getDeadLetter: return GetDeadLetterRequest(id: "dl-0-999").encoded()
        case Methods.discardDeadLetter: return DiscardDeadLetterRequest(id: "dl-0-999", reason: "access test").encoded()
        case Methods.recordRefundResult:
            // No such allocation: granted callers get ALLOCATION_NOT_FOUND (the request's answer).
            return RecordRefundResultRequest(allocationID: "web-W-1001/rf_none/T1", result: "SUCCEEDED").encoded()
        case Methods.recordFulfilmentEvents:
            // An event for an order that does not exist: granted callers get its REFUSED result.
            return RecordFulfilmentEventsRequest(
                source: "warehouse",
                payload: ByteBuffer(
                    string:
                        #"{"events": [{"event_id": "access-1", "order_id": "web-NOPE", "line_id": "L1", "status": "picked", "at": "2026-12-03T10:15:00Z"}]}"#
                )
            ).encoded()
        default: fatalError("no request for \(method)")
        }
    }

    @Test("every method × every role × own/other account gets exactly the expected access")
    func matrix() async throws {
        // Wrong tokens from the granted confirm and decline cells lock the request after five: the
        // answers after that refuse the request (REQUEST_LOCKED), not the caller.
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let pending = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        #expect(pending.id == "web-W-1001/c1")

        let keys: [Caller: String] = [
            .anonymous: "", .service: TestServer.serviceKey, .agent: TestServer.agentKey,
            .portalOwn: TestServer.portalKey, .portalOther: TestServer.portalKey, .admin: TestServer.adminKey,
        ]
        // Every method of the table has exactly one row: a new method needs one.
        #expect(Set(Self.table.map(\.method)) == Set(Methods.all) && Self.table.count == Methods.all.count)
        var cells = 0
        for caller in Caller.allCases {
            let client = try await server.client(key: keys[caller]!)
            let metadata = Metadata(
                onBehalfOf: caller == .portalOwn ? "acct-42" : caller == .portalOther ? "acct-7" : ""
            )
            for (method, expected) in Self.table {
                let want = expected[Caller.allCases.firstIndex(of: caller)!]
                var got = Expected.granted
                do {
                    // A granted watch streams until its deadline; a refused one is answered at once.
                    let watch = [Methods.watchOrder, Methods.watchStock].contains(method)
                    _ = try await client.call(
                        method,
                        request: Self.request(method),
                        deadline: watch ? .milliseconds(200) : nil,
                        metadata: metadata
                    )
                } catch let error as ClientError {
                    let reason = error.status.reasons.first?.code ?? ""
                    // Only refusals of the caller count; a wrong token (TOKEN_INVALID, REQUEST_LOCKED) is
                    // the request's answer to a caller that was let in.
                    // Every id in the requests exists, so a NOT_FOUND can only be a hidden one.
                    if ["API_KEY_REQUIRED", "ROLE_NOT_ALLOWED", "ORDER_NOT_FOUND", "CANCELLATION_NOT_FOUND"].contains(
                        reason
                    ) {
                        got = .refused(error.code, reason)
                    }
                }
                #expect(got == want, "\(method) as \(caller)")
                cells += 1
            }
            await client.close()
        }
        #expect(cells == Self.table.count * Caller.allCases.count)
        print("access matrix: \(cells) cells (\(Self.table.count) methods × \(Caller.allCases.count) callers) checked")
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test(
        "a portal acting for another account cannot try tokens: the attempts are refused before the token is looked at"
    )
    func otherAccountTriesNoToken() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let pending = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        for _ in 0..<10 {
            await #expect(throws: ClientError.self) {
                _ = try await portal.call(
                    Methods.confirmCancellation,
                    ConfirmCancellationRequest(id: pending.id, token: String(repeating: "1", count: 64)),
                    as: ConfirmCancellationResponse.self,
                    metadata: Metadata(onBehalfOf: "acct-7")
                )
            }
        }
        let after = try await agent.call(
            Methods.getCancellation,
            GetCancellationRequest(id: pending.id),
            as: GetCancellationResponse.self
        ).cancellation
        #expect(after.state == "PENDING_CONFIRMATION" && after.failedAttempts == 0)
        // The customer's own portal, with the right token, still confirms.
        let token = try await ConfirmationTests.token(portal, for: pending.id)
        let confirmed = try await portal.call(
            Methods.confirmCancellation,
            ConfirmCancellationRequest(id: pending.id, token: token),
            as: ConfirmCancellationResponse.self,
            metadata: Metadata(onBehalfOf: "acct-42")
        )
        #expect(confirmed.refund != nil)
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }

    /// Requests naming `order` or `request` (an order id, a cancellation id), for every method a
    /// portal reaches through an id.
    static func lookups(order: String, request: String) -> [(method: String, id: String, body: ByteBuffer)] {
        let token = String(repeating: "1", count: 64)
        return [
            (Methods.getOrder, order, GetOrderRequest(orderID: order).encoded()),
            (
                Methods.validateEligibility, order,
                ValidateEligibilityRequest(orderID: order, lines: [CancelLine(lineID: "L1", quantity: 1)]).encoded()
            ),
            (
                Methods.requestCancellation, order,
                RequestCancellationRequest(orderID: order, lines: [CancelLine(lineID: "L2b")], reasonCode: "PROBE")
                    .encoded()
            ),
            (Methods.watchOrder, order, WatchOrderRequest(orderID: order).encoded()),
            (Methods.getCancellation, request, GetCancellationRequest(id: request).encoded()),
            (Methods.confirmCancellation, request, ConfirmCancellationRequest(id: request, token: token).encoded()),
            (Methods.declineCancellation, request, DeclineCancellationRequest(id: request, token: token).encoded()),
        ]
    }

    /// The answer to a call, with the id it named taken out, so that two answers can be compared.
    static func answer(
        _ client: PartialCancelClient,
        _ method: String,
        _ body: ByteBuffer,
        id: String,
        metadata: Metadata
    ) async throws -> String {
        do {
            _ = try await client.call(method, request: body, deadline: .milliseconds(2000), metadata: metadata)
            return "answered OK"
        } catch let error as ClientError {
            let status = error.status
            let reasons = status.reasons.map {
                "\($0.code) subject=\($0.subject.replacingOccurrences(of: id, with: "<id>")) detail=\($0.detail)"
            }
            return
                "\(status.code.name) \(status.message.replacingOccurrences(of: id, with: "<id>")) [\(reasons.joined(separator: "; "))]"
        }
    }

    @Test(
        "a portal that names no customer is refused before any lookup: an existing id and a missing one get the same answer"
    )
    func portalWithoutAccount() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let pending = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        let existing = Self.lookups(order: "web-W-1001", request: pending.id)
        let missing = Self.lookups(order: "web-W-9999", request: "web-W-9999/c1")
        for index in existing.indices {
            let (method, id, body) = existing[index]
            let theirs = try await Self.answer(portal, method, body, id: id, metadata: Metadata())
            let absent = try await Self.answer(
                portal,
                method,
                missing[index].body,
                id: missing[index].id,
                metadata: Metadata()
            )
            #expect(
                theirs.hasPrefix("INVALID_ARGUMENT ") && theirs.contains("ON_BEHALF_OF_REQUIRED"),
                "\(method): \(theirs)"
            )
            #expect(theirs == absent, "\(method): an existing id answers \(theirs); a missing one \(absent)")
        }
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }

    @Test("a portal acting for another account gets the very answer a missing order or request gets: no oracle")
    func otherAccountLooksMissing() async throws {
        let (server, agent, portal) = try await ConfirmationTests.setUp()
        let pending = try await ConfirmationTests.request(agent, [CancelLine(lineID: "L1", quantity: 1)])
        let foreign = Metadata(onBehalfOf: "acct-7")  // the orders belong to acct-42
        let existing = Self.lookups(order: "web-W-1001", request: pending.id)
        let missingOrder = Self.lookups(order: "web-W-9999", request: "web-W-9999/c1")
        let missingRequest = Self.lookups(order: "web-W-1001", request: "web-W-1001/c99")
        for index in existing.indices {
            let (method, id, body) = existing[index]
            let theirs = try await Self.answer(portal, method, body, id: id, metadata: foreign)
            let missing = try await Self.answer(
                portal,
                method,
                missingOrder[index].body,
                id: missingOrder[index].id,
                metadata: foreign
            )
            #expect(theirs.hasPrefix("NOT_FOUND "), "\(method): \(theirs)")
            #expect(theirs == missing, "\(method): another account's \(id) answers \(theirs); a missing one \(missing)")
            if method.hasSuffix("Cancellation") && id == pending.id {
                // A missing request on an order that exists reads the same too.
                let missingOnOrder = try await Self.answer(
                    portal,
                    method,
                    missingRequest[index].body,
                    id: missingRequest[index].id,
                    metadata: foreign
                )
                #expect(theirs == missingOnOrder, "\(method): \(theirs) vs \(missingOnOrder)")
            }
        }
        // None of it touched the request: no attempt counted, no new request made.
        let after = try await agent.call(
            Methods.getCancellation,
            GetCancellationRequest(id: pending.id),
            as: GetCancellationResponse.self
        ).cancellation
        #expect(after.state == "PENDING_CONFIRMATION" && after.failedAttempts == 0)
        let order = try await agent.call(
            Methods.getOrder,
            GetOrderRequest(orderID: "web-W-1001"),
            as: GetOrderResponse.self
        )
        #expect(!order.history.contains { $0.subject.hasSuffix("/c2") })
        for client in [agent, portal] { await client.close() }
        try await server.stop()
    }
}
