import Histogram

/// Latencies in microseconds, up to 10 minutes, 3 significant digits. (In a file of its own:
/// Prometheus has a `Histogram` type too.)
struct Latencies {
    private var histogram = Histogram<UInt64>(
        highestTrackableValue: 600_000_000,
        numberOfSignificantValueDigits: .three
    )

    mutating func record(_ micros: UInt64) {
        _ = histogram.record(min(micros, 600_000_000))
    }

    var mean: Double { histogram.mean }
    var max: UInt64 { histogram.max }
    func valueAtPercentile(_ percentile: Double) -> UInt64 { histogram.valueAtPercentile(percentile) }
}
