import Logging
import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PartialCancelWire

/// Intake (refused payloads become dead letters), order and stock queries (SPEC sections 4, 6, 9 and 10).
struct OrderService {
    let storage: any StorePort
    /// Parses payloads (large ones off the event loops).
    let parser: IntakeParser
    /// Where each channel's accepted, retried and refused orders are counted.
    let sources: SourceHealthTracker
    let now: @Sendable () -> Int64

    var methods: [MethodDescriptor] {
        [
            .unary(Methods.ingestOrder, request: IngestOrderRequest.self) { context, request in
                ingest(context, request)
            },
            .unary(Methods.getOrder, request: GetOrderRequest.self) { context, request in
                getOrder(context, request)
            },
            .unary(Methods.putStock, request: PutStockRequest.self) { context, request in
                putStock(context, request)
            },
            .unary(Methods.getStock, request: GetStockRequest.self) { context, request in
                getStock(context, request)
            },
        ]
    }

    // MARK: Intake

    private func ingest(_ context: CallContext, _ request: IngestOrderRequest) -> EventLoopFuture<IngestOrderResponse> {
        let payload = Array(buffer: request.payload)
        let actor = "\(context.principal.name) via \(request.channel)"
        let storage = self.storage
        return parser.parse(channel: request.channel, payload: payload, on: context.eventLoop).flatMap { parsed in
            switch parsed {
            case .order(let order):
                return storage.ingest(order, actor: actor, on: context.eventLoop).map { outcome in
                    sources.record(
                        request.channel,
                        outcome.created ? .accepted(lagMs: now() - order.placedAtMs) : .retry
                    )
                    return IngestOrderResponse(order: ViewMapping.view(outcome.order), created: outcome.created)
                }
            case .refused(let error, let priority, let key):
                // Refused payloads are kept as dead letters, most valuable first, to be fixed and re-driven.
                return storage.addDeadLetter(
                    key: key,
                    kind: "intake",
                    priority: priority,
                    reason: error.code.name,
                    detail: error.description,
                    subject: request.channel,
                    payload: payload,
                    on: context.eventLoop
                ).flatMapThrowing { id in
                    sources.record(request.channel, .rejected)
                    context.log(
                        .info,
                        "intake refused",
                        metadata: ["channel": "\(request.channel)", "path": "\(error.path)", "dead_letter": "\(id)"]
                    )
                    throw IntakeRefused(error: error, deadLetterID: id)
                }
            }
        }
    }

    // MARK: Queries

    private func getOrder(_ context: CallContext, _ request: GetOrderRequest) -> EventLoopFuture<GetOrderResponse> {
        guard !request.orderID.isEmpty else {
            return context.eventLoop.makeFailedFuture(
                RPCError(.invalidArgument, "order_id is required", reason: .fieldRequired, subject: "request.order_id")
            )
        }
        let storage = self.storage
        let loop = context.eventLoop
        return storage.order(request.orderID, on: loop).flatMapThrowing { found -> GetOrderResponse in
            let lookup = AccountScope.Lookup.order(request.orderID)
            guard let found else { throw lookup.notFound }
            try AccountScope.check(context, account: found.order.account.id, lookup: lookup)
            return GetOrderResponse(order: ViewMapping.view(found.order), history: found.history.map(ViewMapping.view))
        }.flatMap { response -> EventLoopFuture<GetOrderResponse> in
            // Only an order with refunds has allocations to read.
            guard response.order.totals.refunded > 0 else { return loop.makeSucceededFuture(response) }
            return storage.refundAllocations(orderID: request.orderID, on: loop).map { payments in
                var response = response
                response.payments = payments.map(ViewMapping.view)
                return response
            }
        }
    }

    private func putStock(_ context: CallContext, _ request: PutStockRequest) -> EventLoopFuture<PutStockResponse> {
        do {
            try StockArguments.check(sku: request.sku, location: request.location, locationRequired: true)
            guard (0...1_000_000_000).contains(request.onHand) else {
                throw RPCError(
                    .invalidArgument,
                    "on_hand must be within 0...1000000000",
                    reason: .fieldOutOfRange,
                    subject: "request.on_hand"
                )
            }
        } catch {
            return context.eventLoop.makeFailedFuture(error)
        }
        return storage.setOnHand(
            sku: request.sku,
            location: request.location,
            onHand: request.onHand,
            on: context.eventLoop
        ).map {
            PutStockResponse(pool: ViewMapping.view($0))
        }
    }

    private func getStock(_ context: CallContext, _ request: GetStockRequest) -> EventLoopFuture<GetStockResponse> {
        do {
            try StockArguments.check(sku: request.sku, location: request.location, locationRequired: false)
        } catch {
            return context.eventLoop.makeFailedFuture(error)
        }
        return storage.stock(
            sku: request.sku,
            location: request.location.isEmpty ? nil : request.location,
            on: context.eventLoop
        ).map {
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
            case .order(let id): RPCError(.notFound, AccountScope.noOrder(id), reason: .orderNotFound, subject: id)
            case .cancellation(let id):
                RPCError(.notFound, "no cancellation '\(id)'", reason: .cancellationNotFound, subject: id)
            }
        }
    }

    /// No such order, and when the id lacks its channel, the form ids take (`web-W-1001`, not `W-1001`).
    /// The hint depends on the id alone, so a portal learns nothing more from it.
    static func noOrder(_ id: String) -> String {
        let channels = Intake().channels
        guard !channels.contains(where: { id.hasPrefix($0 + "-") }) else { return "no order '\(id)'" }
        let example = channels.contains("web") ? "web-\(id)" : "\(channels.first ?? "web")-\(id)"
        return
            "no order '\(id)'; order ids are CHANNEL-EXTERNALID (channels: \(channels.joined(separator: ", "))), e.g. '\(example)'"
    }

    /// Passes for every role but portal; a portal must name the account, and it must be `account`
    /// (the order's customer), or the call is answered as if `lookup` had found nothing.
    static func check(_ context: CallContext, account: String, lookup: Lookup) throws {
        guard context.principal.role == .portal else { return }
        let named = context.metadata.onBehalfOf
        guard !named.isEmpty else {
            throw RPCError(
                .invalidArgument,
                "portal calls must name the customer account in metadata.on_behalf_of",
                reason: .onBehalfOfRequired,
                subject: "metadata.on_behalf_of"
            )
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
            if required {
                throw RPCError(.invalidArgument, "\(path) is required", reason: .fieldRequired, subject: path)
            }
            return
        }
        guard Identifier.isValid(value) else {
            throw RPCError(
                .invalidArgument,
                "\(path) must be 1-64 of letters, digits, '.', '_' and '-'",
                reason: .fieldMalformed,
                subject: path
            )
        }
    }
}
