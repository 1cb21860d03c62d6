import NIOCore
import PartialCancelDomain
import PartialCancelStorage

/// The embedded default's sample data: stock for the sample skus and one order per channel, each
/// covering the three use cases (an item added by mistake: MUG-01 ×2; a bundle with an optional
/// accessory: CAM-KIT with STRAP-01; a subscription service line: SUPPORT-M), plus a 3PL line whose
/// partner no longer accepts cancellation (TV-55). See README.
public enum SampleData {
    public static let stock: [(sku: String, location: String, onHand: Int64)] = [
        ("MUG-01", "WH-EAST", 120), ("CAM-01", "WH-EAST", 15), ("STRAP-01", "WH-EAST", 40), ("TV-55", "3PL-WEST", 8),
    ]

    public static let orders: [(channel: String, payload: String)] = [
        ("web", SamplePayloads.web), ("marketplace", SamplePayloads.marketplace),
        ("callcenter", SamplePayloads.callcenter),
    ]

    /// The sample payloads as of `nowMs`: placed ten minutes before, and the subscription's paid
    /// period 30 days long with 10 left, so that the walkthrough's numbers hold on any day (the
    /// payloads' own dates are fixed in November 2026, as the spec's appendix shows them).
    public static func orders(asOf nowMs: Int64) -> [(channel: String, payload: String)] {
        let day: Int64 = 86_400_000
        let dates = [
            ("2026-11-20T10:00:00Z", nowMs - 600_000), ("2026-11-01T00:00:00Z", nowMs - 20 * day),
            ("2026-12-01T00:00:00Z", nowMs + 10 * day),
        ]
        return orders.map { sample in
            var payload = sample.payload
            for (fixed, ms) in dates { payload = payload.replacingOccurrences(of: fixed, with: RFC3339.format(ms)) }
            return (sample.channel, payload)
        }
    }

    public static func seed(_ storage: any StorePort, on loop: any EventLoop) async throws -> [String] {
        for pool in stock {
            _ = try await storage.setOnHand(sku: pool.sku, location: pool.location, onHand: pool.onHand, on: loop).get()
        }
        var ids: [String] = []
        let intake = Intake()
        let nowMs = storage.clock.nowMs()
        for sample in orders(asOf: nowMs) {
            let order = try intake.order(
                channel: sample.channel,
                payload: Array(sample.payload.utf8),
                nowMs: nowMs
            )
            ids.append(try await storage.ingest(order, actor: "sample data", on: loop).get().order.id)
        }
        try await storage.waitForDelivery(on: loop).get()
        return ids
    }
}
