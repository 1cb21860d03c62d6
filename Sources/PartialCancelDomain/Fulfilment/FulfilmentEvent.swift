/// A fulfilment event, normalised from its source's own format (docs/FULFILMENT.md): what happened
/// to one line of one order, by whom it was reported and when.
public struct FulfilmentEvent: Sendable, Hashable, Codable {
    public enum Kind: Sendable, Hashable, Codable {
        /// The line reached this status (only forward counts; a lower one arriving late is ignored).
        case status(FulfilmentStatus)
        /// An explicit step back to this status (a correction by the source), never from SHIPPED.
        case revert(to: FulfilmentStatus)
        /// The partner's answer to whether the line may still be cancelled.
        case cancellable(Bool)
    }

    /// The source's name (`warehouse`, `3pl`); with `eventID`, the idempotency key.
    public var source: String
    /// The source's own id for the event.
    public var eventID: String
    /// The canonical order id, `CHANNEL-EXTERNALID`.
    public var orderID: String
    public var lineID: String
    public var kind: Kind
    /// When the source says it happened (Unix milliseconds): arrival minus it is the source's lag.
    public var occurredMs: Int64
    /// Where in the payload the event came from, for errors (`events[3]`).
    public var path: String

    public init(
        source: String,
        eventID: String,
        orderID: String,
        lineID: String,
        kind: Kind,
        occurredMs: Int64,
        path: String
    ) {
        self.source = source
        self.eventID = eventID
        self.orderID = orderID
        self.lineID = lineID
        self.kind = kind
        self.occurredMs = occurredMs
        self.path = path
    }
}

/// Bounds on one batch of fulfilment events.
public struct FulfilmentLimits: Sendable, Hashable {
    /// Events one batch may carry (after a 3PL feed's shipments are split into line events).
    public var maxEventsPerBatch = 1000
    /// Lines one shipment of a partner feed may name.
    public var maxLinesPerShipment = 200
    /// Bytes of an id (event, order, line, partner reference).
    public var maxIDBytes = 128

    public init() {}
    public static let `default` = FulfilmentLimits()
}

/// Turns one fulfilment source's JSON batch into events. Each source has its own field names,
/// vocabulary and ids; errors name the payload's own paths.
public protocol FulfilmentSourceAdapter: Sendable {
    var source: String { get }
    func events(from payload: JSONReader, limits: FulfilmentLimits) throws(DomainError) -> [FulfilmentEvent]
}

/// The fulfilment sources by name, and the parse step of a batch.
public struct FulfilmentIntake: Sendable {
    public let limits: FulfilmentLimits
    private let adapters: [String: any FulfilmentSourceAdapter]

    public init(
        limits: FulfilmentLimits = .default,
        adapters: [any FulfilmentSourceAdapter] = [WarehouseFeedAdapter(), PartnerFeedAdapter()]
    ) {
        self.limits = limits
        self.adapters = Dictionary(uniqueKeysWithValues: adapters.map { ($0.source, $0) })
    }

    public var sources: [String] { adapters.keys.sorted() }

    /// The events of `payload` from `source`, in the payload's order.
    public func events(source: String, payload: [UInt8]) throws(DomainError) -> [FulfilmentEvent] {
        guard let adapter = adapters[source] else {
            throw DomainError(
                .outOfRange,
                path: "source",
                "unknown fulfilment source '\(source)'; known: \(sources.joined(separator: ", "))"
            )
        }
        let events = try adapter.events(from: try JSONReader.parse(payload), limits: limits)
        guard events.count <= limits.maxEventsPerBatch else {
            throw DomainError(
                .outOfRange,
                path: "",
                "the batch holds \(events.count) line events; at most \(limits.maxEventsPerBatch)"
            )
        }
        var seen = Set<String>()
        for event in events where !seen.insert(event.eventID).inserted {
            throw DomainError(.inconsistent, path: event.path, "event id '\(event.eventID)' appears twice in the batch")
        }
        return events
    }
}
