import NIOCore
import PartialCancelClient
import PartialCancelWire

/// How a flow reaches the server: a connection (`PartialCancelClient`), or — to measure the
/// in-process limit of the same work — a direct call into a server in this process. Failures are
/// `ClientError`s carrying the call's status either way.
public protocol FlowTransport: Sendable {
    func call<Request: WireMessage, Response: WireMessage>(
        _ method: String,
        _ request: Request,
        as: Response.Type,
        deadline: TimeAmount?,
        metadata: Metadata
    ) async throws -> Response
}

extension PartialCancelClient: FlowTransport {}

extension FlowTransport {
    func call<Request: WireMessage, Response: WireMessage>(
        _ method: String,
        _ request: Request,
        as: Response.Type,
        deadline: TimeAmount
    ) async throws -> Response {
        try await call(method, request, as: Response.self, deadline: deadline, metadata: Metadata())
    }
}
