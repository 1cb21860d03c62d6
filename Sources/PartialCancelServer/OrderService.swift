import Logging
import NIOCore
import NIOPosix
import PartialCancelDomain
import PartialCancelStorage
import PartialCancelWire

/// Intake, order and stock queries, dead letters (SPEC sections 4, 6, 9 and 10).
struct OrderService {
    let storage: Storage
    let intake: Intake
    /// Where payloads too large to parse in a moment are parsed, off the event loops: a 4 MB
    /// JSON payload takes milliseconds, and every other connection of its loop would wait.
    let parsing: NIOThreadPool = .singleton
    /// The clock intake bounds an order's placing time by (Unix milliseconds).
    var now: @Sendable () -> Int64 = Storage.unixMillis

    /// Payloads up to this size are parsed on the event loop (microseconds: cheaper than the hop).
    static let inlineParseBytes = 16 * 1024

    /// The outcome of parsing one payload.
    private enum Parsed: Sendable {
        case order(Order)
        /// Refused, with what the dead letter records about the payload.
        case refused(DomainError, priority: Int64, key: String)
    }

    private func parse(channel: String, payload: [UInt8], on eventLoop: any EventLoop) -> EventLoopFuture<Parsed> {
        let intake = self.intake
        let nowMs = now()
        let work: @Sendable () -> Parsed = {
            switch Result(catching: { () throws(DomainError) in try intake.order(channel: channel, payload: payload, nowMs: nowMs) }) {
            case .success(let order):
                return .order(order)
            case .failure(let error):
                return .refused(error, priority: intake.priority(channel: channel, payload: payload),
                                key: intake.externalKey(channel: channel, payload: payload) ?? "\(channel)-unknown")
            }
        }
        guard payload.count > Self.inlineParseBytes else { return eventLoop.makeSucceededFuture(work()) }
        return parsing.runIfActive(eventLoop: eventLoop, work)
    }

    var methods: [MethodDescriptor] {
        [
            .unary(Methods.ingestOrder, access: .roles([.service, .admin]), request: IngestOrderRequest.self) { context, request in
                ingest(context, request)
            },
            .unary(Methods.getOrder, access: .roles([.service, .agent, .portal, .admin]), request: GetOrderRequest.self) { context, request in
                getOrder(context, request)
            },
            .unary(Methods.putStock, access: .roles([.admin]), request: PutStockRequest.self) { context, request in
                putStock(context, request)
            },
            .unary(Methods.getStock, access: .roles([.service, .agent, .portal, .admin]), request: GetStockRequest.self) { context, request in
                getStock(context, request)
            },
            .unary(Methods.listDeadLetters, access: .roles([.admin]), request: ListDeadLettersRequest.self) { context, request in
                let limit = request.limit == 0 ? 100 : min(Int(request.limit), 1000)
                return storage.deadLetters(limit: limit, on: context.eventLoop).map { ListDeadLettersResponse(deadLetters: $0.map(ViewMapping.view)) }
            },
            .unary(Methods.redriveDeadLetter, access: .roles([.admin]), request: RedriveDeadLetterRequest.self) { context, request in
                redrive(context, request)
            },
        ]
    }

    // MARK: Intake

    private func ingest(_ context: CallContext, _ request: IngestOrderRequest) -> EventLoopFuture<IngestOrderResponse> {
        let payload = Array(buffer: request.payload)
        let actor = "\(context.principal.name) via \(request.channel)"
        let storage = self.storage
        return parse(channel: request.channel, payload: payload, on: context.eventLoop).flatMap { parsed in
            switch parsed {
            case .order(let order):
                return storage.ingest(order, actor: actor, on: context.eventLoop).map { outcome in
                    IngestOrderResponse(order: ViewMapping.view(outcome.order), created: outcome.created)
                }
            case .refused(let error, let priority, let key):
                // Refused payloads are kept as dead letters, most valuable first, to be fixed and re-driven.
                return storage.addDeadLetter(key: key, kind: "intake", priority: priority, reason: error.code.name, detail: error.description,
                                             subject: request.channel, payload: payload, on: context.eventLoop).flatMapThrowing { id in
                    context.log(.info, "intake refused", metadata: ["channel": "\(request.channel)", "path": "\(error.path)", "dead_letter": "\(id)"])
                    throw RPCError(.invalidArgument, "payload refused: \(error.description)",
                                   reasons: [Reason(error.code.name, subject: error.path, detail: error.message), Reason("DEAD_LETTERED", subject: id)])
                }
            }
        }
    }

    private func redrive(_ context: CallContext, _ request: RedriveDeadLetterRequest) -> EventLoopFuture<RedriveDeadLetterResponse> {
        storage.deadLetter(request.id, on: context.eventLoop).flatMap { letter in
            guard let letter else {
                return context.eventLoop.makeFailedFuture(RPCError(.notFound, "no open dead letter '\(request.id)'", reason: "DEAD_LETTER_NOT_FOUND", subject: request.id))
            }
            if letter.kind == "notification" {
                // Re-queue the email: delivery tries it again from scratch.
                return storage.reviveEmail(deadLetter: letter, on: context.eventLoop).map { RedriveDeadLetterResponse(resolved: $0) }
            }
            return parse(channel: letter.subject, payload: letter.payload, on: context.eventLoop).flatMap { parsed in
                switch parsed {
                case .order(let order):
                    return storage.ingest(order, actor: "\(context.principal.name) redrive \(letter.id)", on: context.eventLoop).flatMap { outcome in
                        storage.resolveDeadLetter(letter.id, on: context.eventLoop).map {
                            RedriveDeadLetterResponse(resolved: true, order: ViewMapping.view(outcome.order))
                        }
                    }
                case .refused(let error, _, _):
                    return storage.failDeadLetterAgain(letter.id, reason: error.code.name, detail: error.description, on: context.eventLoop).flatMap {
                        storage.deadLetter(letter.id, on: context.eventLoop)
                    }.map { updated in
                        RedriveDeadLetterResponse(resolved: false, deadLetter: updated.map(ViewMapping.view))
                    }
                }
            }
        }
    }

    // MARK: Queries

    private func getOrder(_ context: CallContext, _ request: GetOrderRequest) -> EventLoopFuture<GetOrderResponse> {
        guard !request.orderID.isEmpty else {
            return context.eventLoop.makeFailedFuture(RPCError(.invalidArgument, "order_id is required", reason: "FIELD_REQUIRED", subject: "request.order_id"))
        }
        return storage.order(request.orderID, on: context.eventLoop).flatMapThrowing { found in
            let lookup = AccountScope.Lookup.order(request.orderID)
            guard let found else { throw lookup.notFound }
            try AccountScope.check(context, account: found.order.account.id, lookup: lookup)
            return GetOrderResponse(order: ViewMapping.view(found.order), history: found.history.map(ViewMapping.view))
        }
    }

    private func putStock(_ context: CallContext, _ request: PutStockRequest) -> EventLoopFuture<PutStockResponse> {
        do {
            try StockArguments.check(sku: request.sku, location: request.location, locationRequired: true)
            guard (0...1_000_000_000).contains(request.onHand) else {
                throw RPCError(.invalidArgument, "on_hand must be within 0...1000000000", reason: "FIELD_OUT_OF_RANGE", subject: "request.on_hand")
            }
        } catch {
            return context.eventLoop.makeFailedFuture(error)
        }
        return storage.setOnHand(sku: request.sku, location: request.location, onHand: request.onHand, on: context.eventLoop).map {
            PutStockResponse(pool: ViewMapping.view($0))
        }
    }

    private func getStock(_ context: CallContext, _ request: GetStockRequest) -> EventLoopFuture<GetStockResponse> {
        do {
            try StockArguments.check(sku: request.sku, location: request.location, locationRequired: false)
        } catch {
            return context.eventLoop.makeFailedFuture(error)
        }
        return storage.stock(sku: request.sku, location: request.location.isEmpty ? nil : request.location, on: context.eventLoop).map {
            GetStockResponse(pools: $0.map(ViewMapping.view))
        }
    }
}

/// Portal principals act for one customer account, named per call in `metadata.on_behalf_of`.
///
/// A portal naming another account's order or cancellation request gets exactly the answer a
/// missing one gets: the same status, reason, subject and message (`lookup.notFound`), so no answer
/// tells "exists but belongs to someone else" from "does not exist".
enum AccountScope {
    /// What the caller looked up, by the id it named: how "not found" reads for it. Handlers answer
    /// a lookup that found nothing with the same `notFound`.
    enum Lookup: Sendable {
        case order(String)
        case cancellation(String)

        var notFound: RPCError {
            switch self {
            case .order(let id): RPCError(.notFound, "no order '\(id)'", reason: "ORDER_NOT_FOUND", subject: id)
            case .cancellation(let id): RPCError(.notFound, "no cancellation '\(id)'", reason: "CANCELLATION_NOT_FOUND", subject: id)
            }
        }
    }

    /// Passes for every role but portal; a portal must name the account, and it must be `account`
    /// (the order's customer), or the call is answered as if `lookup` had found nothing.
    static func check(_ context: CallContext, account: String, lookup: Lookup) throws {
        guard context.principal.role == .portal else { return }
        let named = context.metadata.onBehalfOf
        guard !named.isEmpty else {
            throw RPCError(.invalidArgument, "portal calls must name the customer account in metadata.on_behalf_of",
                           reason: "ON_BEHALF_OF_REQUIRED", subject: "metadata.on_behalf_of")
        }
        guard named == account else { throw lookup.notFound }
    }
}

enum StockArguments {
    static func check(sku: String, location: String, locationRequired: Bool) throws {
        try identifier(sku, "request.sku", required: true)
        try identifier(location, "request.location", required: locationRequired)
    }

    private static func identifier(_ value: String, _ path: String, required: Bool) throws {
        if value.isEmpty {
            if required { throw RPCError(.invalidArgument, "\(path) is required", reason: "FIELD_REQUIRED", subject: path) }
            return
        }
        guard Identifier.isValid(value) else {
            throw RPCError(.invalidArgument, "\(path) must be 1-64 of letters, digits, '.', '_' and '-'", reason: "FIELD_MALFORMED", subject: path)
        }
    }
}
