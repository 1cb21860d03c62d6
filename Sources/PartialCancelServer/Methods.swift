import Logging
import NIOCore
import PartialCancelWire

/// What a handler knows about the call it serves.
public struct CallContext: Sendable {
    public let callID: UInt64
    public let method: String
    public let principal: Principal
    public let metadata: Metadata
    /// When the caller stops waiting. Work that starts after it is wasted.
    public let deadline: NIODeadline
    /// The connection's event loop: futures handed back complete best here (no thread hop).
    public let eventLoop: any EventLoop
    public let decodingLimits: DecodingLimits
    /// The connection's logger (it carries the peer). Log through `log`, which adds the call's id,
    /// method and trace id to the line: setting them on a logger for every call would cost more
    /// than a ping (the stream handler re-renders its metadata on every change).
    public let logger: Logger

    public func log(
        _ level: Logger.Level,
        _ message: @autoclosure () -> Logger.Message,
        metadata: @autoclosure () -> Logger.Metadata = [:]
    ) {
        logger.log(level: level, message(), metadata: callMetadata.merging(metadata()) { _, line in line })
    }

    /// Who makes the call, for history entries: the principal and its role, or for a portal the
    /// account it acts for.
    public var actor: String {
        principal.role == .portal
            ? "\(principal.name) (portal for \(metadata.onBehalfOf))" : "\(principal.name) (\(principal.roleName))"
    }

    /// What identifies the call in a log line.
    public var callMetadata: Logger.Metadata {
        var fields: Logger.Metadata = ["call.id": "\(callID)", "method": "\(method)"]
        if !metadata.traceID.isEmpty { fields["trace.id"] = "\(metadata.traceID)" }
        return fields
    }
}

/// One method: its name, who may call it, and the handler from request bytes to response bytes
/// (or, for a server-streaming method, to items sent on a `ServerStream`).
public struct MethodDescriptor: Sendable {
    public typealias StreamHandler = @Sendable (CallContext, ByteBuffer, ServerStream) -> EventLoopFuture<Void>

    public let name: String
    public let access: MethodAccess
    public let handler: @Sendable (CallContext, ByteBuffer) -> EventLoopFuture<ByteBuffer>
    /// Set for server-streaming methods: sends items on the stream; the future ends the call (OK,
    /// or the error's status).
    public let streamHandler: StreamHandler?

    public init(
        name: String,
        access: MethodAccess? = nil,
        handler: @escaping @Sendable (CallContext, ByteBuffer) -> EventLoopFuture<ByteBuffer>
    ) {
        self.name = name
        self.access = Self.access(name, access)
        self.handler = handler
        self.streamHandler = nil
    }

    /// A server-streaming method. Called without a stream (in process), it answers UNIMPLEMENTED.
    public init(name: String, access: MethodAccess? = nil, streamHandler: @escaping StreamHandler) {
        self.name = name
        self.access = Self.access(name, access)
        self.streamHandler = streamHandler
        self.handler = { context, _ in
            context.eventLoop.makeFailedFuture(
                RPCError(
                    .unimplemented,
                    "\(name) streams; call it over a connection",
                    reason: .streamRequired,
                    subject: name
                )
            )
        }
    }

    /// A method of the service takes its access from `Methods.table`; any other (an embedder's
    /// own) must state it.
    private static func access(_ name: String, _ given: MethodAccess?) -> MethodAccess {
        if let spec = Methods.spec(name) {
            precondition(given == nil || given == spec.access, "\(name): access is stated in Methods.table")
            return spec.access
        }
        guard let given else { preconditionFailure("\(name) is not in Methods.table, so it must state its access") }
        return given
    }

    /// Checks a typed handler against the table: the types it decodes and encodes are the table's.
    private static func checkTypes(
        _ name: String,
        request: any WireMessage.Type,
        response: (any WireMessage.Type)?
    ) {
        guard let spec = Methods.spec(name) else { return }
        precondition(
            ObjectIdentifier(spec.request) == ObjectIdentifier(request),
            "\(name) decodes \(request), the table says \(spec.request)"
        )
        // A streaming handler states no response type: its items are sent on the stream.
        precondition(spec.streaming == (response == nil), "\(name): streaming is \(spec.streaming) in the table")
        if let response {
            precondition(
                ObjectIdentifier(spec.response) == ObjectIdentifier(response),
                "\(name) answers \(response), the table says \(spec.response)"
            )
        }
    }

    /// A server-streaming method with a typed request and typed items.
    public static func serverStream<Request: WireMessage>(
        _ name: String,
        access: MethodAccess? = nil,
        request: Request.Type = Request.self,
        handler: @escaping @Sendable (CallContext, Request, ServerStream) -> EventLoopFuture<Void>
    ) -> MethodDescriptor {
        checkTypes(name, request: Request.self, response: nil)
        return MethodDescriptor(name: name, access: access) { context, bytes, stream in
            let request: Request
            do {
                request = try Request(decoding: bytes, limits: context.decodingLimits, path: "request")
            } catch {
                return context.eventLoop.makeFailedFuture(error)
            }
            return handler(context, request, stream)
        }
    }

    /// A unary method with typed messages: the request is decoded (and validated) under the
    /// server's decoding limits, with errors naming the bad field under `request.`.
    public static func unary<Request: WireMessage, Response: WireMessage>(
        _ name: String,
        access: MethodAccess? = nil,
        request: Request.Type = Request.self,
        handler: @escaping @Sendable (CallContext, Request) -> EventLoopFuture<Response>
    ) -> MethodDescriptor {
        checkTypes(name, request: Request.self, response: Response.self)
        return MethodDescriptor(name: name, access: access) { context, bytes in
            let request: Request
            do {
                request = try Request(decoding: bytes, limits: context.decodingLimits, path: "request")
            } catch {
                return context.eventLoop.makeFailedFuture(error)
            }
            return handler(context, request).map { response in
                var buffer = ByteBuffer()
                response.encode(into: &buffer)
                return buffer
            }
        }
    }
}

/// The methods a server serves, by name.
public struct MethodRegistry: Sendable {
    private var methods: [String: MethodDescriptor] = [:]

    public init(_ methods: [MethodDescriptor] = []) {
        for method in methods { register(method) }
    }

    public mutating func register(_ method: MethodDescriptor) {
        precondition(methods[method.name] == nil, "method \(method.name) registered twice")
        methods[method.name] = method
    }

    public subscript(name: String) -> MethodDescriptor? { methods[name] }

    /// The method `name` if `principal` may call it; otherwise the refusal to answer with
    /// (UNIMPLEMENTED for an unknown method, or the access rule's). One place for calls over a
    /// connection and in-process calls alike.
    public func method(
        _ name: String,
        for principal: Principal,
        metadata: Metadata
    ) -> Result<MethodDescriptor, RPCError> {
        guard let method = methods[name] else {
            return .failure(RPCError(.unimplemented, "unknown method '\(name)'", reason: .methodUnknown, subject: name))
        }
        if let denied = method.access.check(principal, method: method.name) { return .failure(denied) }
        // A portal names the customer it acts for before anything is looked up: refused later,
        // an existing id and a missing one would get different answers.
        if principal.role == .portal, metadata.onBehalfOf.isEmpty, Methods.spec(name)?.customerScoped ?? true {
            return .failure(
                RPCError(
                    .invalidArgument,
                    "portal calls must name the customer account in metadata.on_behalf_of",
                    reason: .onBehalfOfRequired,
                    subject: "metadata.on_behalf_of"
                )
            )
        }
        return .success(method)
    }

    /// Every method of `Methods.table` has a handler here.
    public var missingFromTable: [String] { Methods.all.filter { methods[$0] == nil } }
}
