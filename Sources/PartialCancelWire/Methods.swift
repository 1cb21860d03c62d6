/// Method names as they travel in `Call.method`.
public enum Methods {
    public static let service = "pcancel.v1.PartialCancellation"
    public static let ping = "\(service)/Ping"
    public static let health = "\(service)/Health"
    public static let ingestOrder = "\(service)/IngestOrder"
    public static let getOrder = "\(service)/GetOrder"
    public static let putStock = "\(service)/PutStock"
    public static let getStock = "\(service)/GetStock"
    public static let listDeadLetters = "\(service)/ListDeadLetters"
    public static let redriveDeadLetter = "\(service)/RedriveDeadLetter"
    public static let validateEligibility = "\(service)/ValidateEligibility"
    public static let requestCancellation = "\(service)/RequestCancellation"
    public static let getCancellation = "\(service)/GetCancellation"
    public static let listNotifications = "\(service)/ListNotifications"
    public static let confirmCancellation = "\(service)/ConfirmCancellation"
    public static let declineCancellation = "\(service)/DeclineCancellation"
    public static let releaseInventory = "\(service)/ReleaseInventory"
    public static let stats = "\(service)/Stats"
    public static let watchOrder = "\(service)/WatchOrder"
    public static let watchStock = "\(service)/WatchStock"
    public static let withdrawCancellation = "\(service)/WithdrawCancellation"
    public static let getDeadLetter = "\(service)/GetDeadLetter"
    public static let discardDeadLetter = "\(service)/DiscardDeadLetter"
    public static let recordFulfilmentEvents = "\(service)/RecordFulfilmentEvents"
    public static let recordRefundResult = "\(service)/RecordRefundResult"

    private static let everyone: Set<Role> = [.service, .agent, .portal, .admin]

    /// The one method table: every method, its messages and its rules, in the order of
    /// service.proto (a test compares the two). The server registers a handler for each and takes
    /// access and idempotency from here; the fuzzers' dispatch target picks by index, so new
    /// methods go at the end, in service.proto too.
    public static let table: [MethodSpec] = [
        MethodSpec(
            ping,
            PingRequest.self,
            PingResponse.self,
            access: .authenticated,
            mutates: false,
            customerScoped: false
        ),
        MethodSpec(
            health,
            HealthRequest.self,
            HealthResponse.self,
            access: .anonymous,
            mutates: false,
            customerScoped: false
        ),
        MethodSpec(
            ingestOrder,
            IngestOrderRequest.self,
            IngestOrderResponse.self,
            access: .roles([.service, .admin]),
            mutates: true
        ),
        MethodSpec(getOrder, GetOrderRequest.self, GetOrderResponse.self, access: .roles(everyone), mutates: false),
        MethodSpec(putStock, PutStockRequest.self, PutStockResponse.self, access: .roles([.admin]), mutates: true),
        MethodSpec(
            getStock,
            GetStockRequest.self,
            GetStockResponse.self,
            access: .roles(everyone),
            mutates: false,
            customerScoped: false
        ),
        MethodSpec(
            listDeadLetters,
            ListDeadLettersRequest.self,
            ListDeadLettersResponse.self,
            access: .roles([.admin]),
            mutates: false
        ),
        MethodSpec(
            redriveDeadLetter,
            RedriveDeadLetterRequest.self,
            RedriveDeadLetterResponse.self,
            access: .roles([.admin]),
            mutates: true
        ),
        MethodSpec(
            validateEligibility,
            ValidateEligibilityRequest.self,
            ValidateEligibilityResponse.self,
            access: .roles(everyone),
            mutates: false
        ),
        MethodSpec(
            requestCancellation,
            RequestCancellationRequest.self,
            RequestCancellationResponse.self,
            access: .roles(everyone),
            mutates: true
        ),
        MethodSpec(
            getCancellation,
            GetCancellationRequest.self,
            GetCancellationResponse.self,
            access: .roles(everyone),
            mutates: false
        ),
        MethodSpec(
            listNotifications,
            ListNotificationsRequest.self,
            ListNotificationsResponse.self,
            access: .roles([.portal]),
            mutates: false
        ),
        MethodSpec(
            confirmCancellation,
            ConfirmCancellationRequest.self,
            ConfirmCancellationResponse.self,
            access: .authenticated,
            mutates: true
        ),
        MethodSpec(
            declineCancellation,
            DeclineCancellationRequest.self,
            DeclineCancellationResponse.self,
            access: .authenticated,
            mutates: true
        ),
        MethodSpec(
            releaseInventory,
            ReleaseInventoryRequest.self,
            ReleaseInventoryResponse.self,
            access: .roles([.service, .admin]),
            mutates: true
        ),
        MethodSpec(
            stats,
            StatsRequest.self,
            StatsResponse.self,
            access: .roles([.service, .agent, .admin]),
            mutates: false
        ),
        MethodSpec(
            watchOrder,
            WatchOrderRequest.self,
            OrderChange.self,
            access: .roles(everyone),
            mutates: false,
            streaming: true
        ),
        MethodSpec(
            watchStock,
            WatchStockRequest.self,
            StockUpdate.self,
            access: .roles([.service, .agent, .admin]),
            mutates: false,
            streaming: true
        ),
        MethodSpec(
            withdrawCancellation,
            WithdrawCancellationRequest.self,
            WithdrawCancellationResponse.self,
            access: .roles([.agent, .admin]),
            mutates: true
        ),
        MethodSpec(
            getDeadLetter,
            GetDeadLetterRequest.self,
            GetDeadLetterResponse.self,
            access: .roles([.admin]),
            mutates: false
        ),
        MethodSpec(
            discardDeadLetter,
            DiscardDeadLetterRequest.self,
            DiscardDeadLetterResponse.self,
            access: .roles([.admin]),
            mutates: true
        ),
        MethodSpec(
            recordFulfilmentEvents,
            RecordFulfilmentEventsRequest.self,
            RecordFulfilmentEventsResponse.self,
            access: .roles([.service, .admin]),
            mutates: true
        ),
        MethodSpec(
            recordRefundResult,
            RecordRefundResultRequest.self,
            RecordRefundResultResponse.self,
            access: .roles([.service, .admin]),
            mutates: true
        ),
    ]

    /// Every method's name, in the table's order.
    public static let all = table.map(\.name)

    private static let byName = Dictionary(uniqueKeysWithValues: table.map { ($0.name, $0) })

    /// The table's entry for `name`, if it is a method of the service.
    public static func spec(_ name: String) -> MethodSpec? { byName[name] }
}

/// One method of the service: what travels, who may call it, and what the server promises.
public struct MethodSpec: Sendable {
    /// The full name, `pcancel.v1.PartialCancellation/NAME`.
    public let name: String
    public let request: any WireMessage.Type
    /// The response; for a streaming method, each item's type.
    public let response: any WireMessage.Type
    public let access: MethodAccess
    /// Changes stored state, and so honours `Metadata.idempotency_key` (a retry with the same key
    /// gets the first answer). No default: each new method says.
    public let mutates: Bool
    /// Server streaming: items on the stream, then one reply.
    public let streaming: Bool
    /// Tells about a customer, so a portal must name the account it acts for
    /// (`Metadata.on_behalf_of`); false for methods that tell nothing about one.
    public let customerScoped: Bool

    /// The name after the service, `NAME`.
    public var shortName: Substring { name[name.index(after: name.lastIndex(of: "/")!)...] }

    init(
        _ name: String,
        _ request: any WireMessage.Type,
        _ response: any WireMessage.Type,
        access: MethodAccess,
        mutates: Bool,
        streaming: Bool = false,
        customerScoped: Bool = true
    ) {
        self.name = name
        self.request = request
        self.response = response
        self.access = access
        self.mutates = mutates
        self.streaming = streaming
        self.customerScoped = customerScoped
    }
}

/// What a caller may do (SPEC section 11). A connection's role is named in `HelloReply.role`.
public enum Role: String, Sendable, Hashable, CaseIterable, Codable {
    /// Internal services.
    case service
    /// Customer-service agents.
    case agent
    /// A self-service portal acting for one customer account, named per call.
    case portal
    /// Operators: stock, dead letters, configuration.
    case admin
}

/// Which callers a method admits.
public enum MethodAccess: Sendable, Hashable {
    /// Anyone, including connections that sent no key (e.g. Health, for load balancers).
    case anonymous
    /// Any caller with a valid key.
    case authenticated
    /// Only these roles.
    case roles(Set<Role>)
}

/// The protocol version this module speaks.
public let protocolVersion: UInt32 = 1
