import Logging
import NIOCore
import PartialCancelDomain
import PartialCancelStorage
import PartialCancelWire

/// Intake (refused payloads become dead letters), order and stock queries (SPEC sections 4, 6, 9 and 10).
struct OrderService {
    let storage: Storage
    let intake: Intake

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
        ]
    }

    // MARK: Intake

    private func ingest(_ context: CallContext, _ request: IngestOrderRequest) -> EventLoopFuture<IngestOrderResponse> {
        let payload = Array(buffer: request.payload)
        let actor = "\(context.principal.name) via \(request.channel)"
        switch Result(catching: { () throws(DomainError) in try intake.order(channel: request.channel, payload: payload) }) {
        case .success(let order):
            return storage.ingest(order, actor: actor, on: context.eventLoop).map { outcome in
                IngestOrderResponse(order: ViewMapping.view(outcome.order), created: outcome.created)
            }
        case .failure(let error):
            // Refused payloads are kept as dead letters, most valuable first, to be fixed and re-driven.
            let priority = intake.priority(channel: request.channel, payload: payload)
            let key = intake.externalKey(channel: request.channel, payload: payload) ?? "\(request.channel)-unknown"
            return storage.addDeadLetter(key: key, kind: "intake", priority: priority, reason: error.code.name, detail: error.description,
                                         subject: request.channel, payload: payload, on: context.eventLoop).flatMapThrowing { id in
                context.log(.info, "intake refused", metadata: ["channel": "\(request.channel)", "path": "\(error.path)", "dead_letter": "\(id)"])
                throw RPCError(.invalidArgument, "payload refused: \(error.description)",
                               reasons: [Reason(error.code.name, subject: error.path, detail: error.message), Reason("DEAD_LETTERED", subject: id)])
            }
        }
    }

    // MARK: Queries

    private func getOrder(_ context: CallContext, _ request: GetOrderRequest) -> EventLoopFuture<GetOrderResponse> {
        guard !request.orderID.isEmpty else {
            return context.eventLoop.makeFailedFuture(RPCError(.invalidArgument, "order_id is required", reason: "FIELD_REQUIRED", subject: "request.order_id"))
        }
        return storage.order(request.orderID, on: context.eventLoop).flatMapThrowing { found in
            guard let found else { throw RPCError(.notFound, "no order '\(request.orderID)'", reason: "ORDER_NOT_FOUND", subject: request.orderID) }
            try AccountScope.check(context, account: found.order.account.id)
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
enum AccountScope {
    static func check(_ context: CallContext, account: String) throws {
        guard context.principal.role == .portal else { return }
        let named = context.metadata.onBehalfOf
        guard !named.isEmpty else {
            throw RPCError(.invalidArgument, "portal calls must name the customer account in metadata.on_behalf_of",
                           reason: "ON_BEHALF_OF_REQUIRED", subject: "metadata.on_behalf_of")
        }
        guard named == account else {
            throw RPCError(.permissionDenied, "this order belongs to another account", reason: "ACCOUNT_MISMATCH", subject: "metadata.on_behalf_of")
        }
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
