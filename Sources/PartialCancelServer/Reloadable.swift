import NIOConcurrencyHelpers

/// A setting that SIGHUP may replace while the server runs (API keys, intake and cancellation
/// rules): read once at the start of each call or Hello, so a call sees one version throughout and
/// open connections stay open.
public final class Reloadable<Value: Sendable>: Sendable {
    private let box: NIOLockedValueBox<Value>

    public init(_ value: Value) { box = NIOLockedValueBox(value) }

    public var current: Value { box.withLockedValue { $0 } }

    func replace(_ value: Value) { box.withLockedValue { $0 = value } }
}
