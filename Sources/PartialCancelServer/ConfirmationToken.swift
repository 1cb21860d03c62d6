import Crypto
import PartialCancelDomain

/// The customer's one-time confirmation token (SPEC section 8): 256 random bits from the system's
/// CSPRNG, shown only to the customer, stored only as its SHA-256, compared in constant time.
enum ConfirmationToken {
    static func generate() -> (value: String, hash: [UInt8]) {
        let value = Secrets.randomHex(bytes: 32)
        return (value, hash(value))
    }

    static func hash(_ token: String) -> [UInt8] { Array(SHA256.hash(data: Array(token.utf8))) }

    /// A new refund id: `rf_` and 128 random bits.
    static func refundID() -> String { "rf_" + Secrets.randomHex(bytes: 16) }

    /// Constant-time comparison of `token`'s hash with the stored one.
    static func matches(_ token: String, storedHash: [UInt8]) -> Bool {
        Secrets.constantTimeEqual(hash(token), storedHash)
    }

    /// The portal message carrying the token. Its last line is `Token: <64 hex digits>`, for clients;
    /// `token` names it, so that storage keeps it sealed at rest.
    static func notification(for request: CancellationRequest, order: Order, token: String) -> PortalNotification {
        let amount = order.currency.format(request.quote.refundTotal)
        let lines = request.lines.map { line in "\(line.lineID)\(line.quantity.map { " ×\($0)" } ?? " (all remaining)")"
        }.joined(separator: ", ")
        let body = """
            We received a request to cancel part of your order \(order.externalID) (\(order.id)): \(lines).
            If you confirm, \(amount) \(request.quote.currency) will be refunded and your new order total will be \(order.currency.format(request.quote.newTotals.total)) \(request.quote.currency).
            Confirm or decline in the portal before \(RFC3339.format(request.lifecycle.expiresAtMs)) with this one-time code.
            Cancellation: \(request.id)
            Token: \(token)
            """
        return PortalNotification(
            accountID: order.account.id,
            cancellationID: request.id,
            kind: "CONFIRMATION_REQUESTED",
            subject: "Confirm the cancellation for order \(order.externalID)",
            body: body,
            email: order.account.email,
            token: token
        )
    }
}
