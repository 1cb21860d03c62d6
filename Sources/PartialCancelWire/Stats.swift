import CPartialCancelProto
import NIOCore

public struct StatsRequest: Sendable, Hashable {
    public init() {}
}

/// How many calls of a method ended with a status code and first reason (empty for OK).
public struct StatusCount: Sendable, Hashable {
    public var code: String, reason: String, count: UInt64
    public init(code: String, reason: String, count: UInt64) { self.code = code; self.reason = reason; self.count = count }
}

public struct MethodStats: Sendable, Hashable {
    public var method: String
    public var calls: UInt64
    public var statuses: [StatusCount]
    public var meanMs: Double, p50Ms: Double, p90Ms: Double, p99Ms: Double, maxMs: Double

    public init(method: String, calls: UInt64, statuses: [StatusCount], meanMs: Double, p50Ms: Double, p90Ms: Double, p99Ms: Double, maxMs: Double) {
        self.method = method; self.calls = calls; self.statuses = statuses
        self.meanMs = meanMs; self.p50Ms = p50Ms; self.p90Ms = p90Ms; self.p99Ms = p99Ms; self.maxMs = maxMs
    }
}

/// Lines refused by eligibility, by reason and channel.
public struct RejectCount: Sendable, Hashable {
    public var reason: String, channel: String, count: UInt64
    public init(reason: String, channel: String, count: UInt64) { self.reason = reason; self.channel = channel; self.count = count }
}

public struct StatsResponse: Sendable, Hashable {
    public var uptimeMs: UInt64
    public var connections: UInt32
    public var methods: [MethodStats]
    public var eligibilityRejects: [RejectCount]
    public var shards: [ShardHealthView]
    public var stockMessagesInFlight: Int64
    public var watches: UInt32
    public var watchesDropped: UInt64

    public init(uptimeMs: UInt64 = 0, connections: UInt32 = 0, methods: [MethodStats] = [], eligibilityRejects: [RejectCount] = [],
                shards: [ShardHealthView] = [], stockMessagesInFlight: Int64 = 0, watches: UInt32 = 0, watchesDropped: UInt64 = 0) {
        self.uptimeMs = uptimeMs; self.connections = connections; self.methods = methods; self.eligibilityRejects = eligibilityRejects
        self.shards = shards; self.stockMessagesInFlight = stockMessagesInFlight; self.watches = watches; self.watchesDropped = watchesDropped
    }
}

extension StatsRequest: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__stats_request__init, Pcancel__V1__StatsRequest()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__StatsRequest {
        var c = Pcancel__V1__StatsRequest()
        pcancel__v1__stats_request__init(&c)
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__StatsRequest>, reader: FieldReader) throws(WireDecodeError) {
        self.init()
    }
}

extension StatusCount: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__status_count__init, Pcancel__V1__StatusCount()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__StatusCount {
        var c = Pcancel__V1__StatusCount()
        pcancel__v1__status_count__init(&c)
        c.code = arena.cString(code); c.reason = arena.cString(reason); c.count = count
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__StatusCount>, reader: FieldReader) throws(WireDecodeError) {
        self.init(code: try reader.string(c.pointee.code, "code"), reason: try reader.string(c.pointee.reason, "reason"), count: c.pointee.count)
    }
}

extension MethodStats: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__method_stats__init, Pcancel__V1__MethodStats()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__MethodStats {
        var c = Pcancel__V1__MethodStats()
        pcancel__v1__method_stats__init(&c)
        c.method = arena.cString(method); c.calls = calls
        c.n_statuses = statuses.count; c.statuses = arena.messages(statuses)
        c.mean_ms = meanMs; c.p50_ms = p50Ms; c.p90_ms = p90Ms; c.p99_ms = p99Ms; c.max_ms = maxMs
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__MethodStats>, reader: FieldReader) throws(WireDecodeError) {
        let p = c.pointee
        self.init(method: try reader.string(p.method, "method"), calls: p.calls,
                  statuses: try reader.messages(p.n_statuses, p.statuses, "statuses", as: StatusCount.self),
                  meanMs: p.mean_ms, p50Ms: p.p50_ms, p90Ms: p.p90_ms, p99Ms: p.p99_ms, maxMs: p.max_ms)
    }
}

extension RejectCount: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__reject_count__init, Pcancel__V1__RejectCount()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__RejectCount {
        var c = Pcancel__V1__RejectCount()
        pcancel__v1__reject_count__init(&c)
        c.reason = arena.cString(reason); c.channel = arena.cString(channel); c.count = count
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__RejectCount>, reader: FieldReader) throws(WireDecodeError) {
        self.init(reason: try reader.string(c.pointee.reason, "reason"), channel: try reader.string(c.pointee.channel, "channel"), count: c.pointee.count)
    }
}

extension StatsResponse: WireMessage {
    public static var descriptor: UnsafePointer<ProtobufCMessageDescriptor> { PartialCancelWire.descriptor(of: pcancel__v1__stats_response__init, Pcancel__V1__StatsResponse()) }
    public func cMessage(in arena: Arena) -> Pcancel__V1__StatsResponse {
        var c = Pcancel__V1__StatsResponse()
        pcancel__v1__stats_response__init(&c)
        c.uptime_ms = uptimeMs; c.connections = connections
        c.n_methods = methods.count; c.methods = arena.messages(methods)
        c.n_eligibility_rejects = eligibilityRejects.count; c.eligibility_rejects = arena.messages(eligibilityRejects)
        c.n_shards = shards.count; c.shards = arena.messages(shards)
        c.stock_messages_in_flight = stockMessagesInFlight; c.watches = watches; c.watches_dropped = watchesDropped
        return c
    }
    public init(cMessage c: UnsafePointer<Pcancel__V1__StatsResponse>, reader: FieldReader) throws(WireDecodeError) {
        let p = c.pointee
        self.init(uptimeMs: p.uptime_ms, connections: p.connections,
                  methods: try reader.messages(p.n_methods, p.methods, "methods", as: MethodStats.self),
                  eligibilityRejects: try reader.messages(p.n_eligibility_rejects, p.eligibility_rejects, "eligibility_rejects", as: RejectCount.self),
                  shards: try reader.messages(p.n_shards, p.shards, "shards", as: ShardHealthView.self),
                  stockMessagesInFlight: p.stock_messages_in_flight, watches: p.watches, watchesDropped: p.watches_dropped)
    }
}
