import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import PartialCancelDomain
import PartialCancelStorage

/// One touchpoint's subscription (config `webhooks.subscriptions`, docs/EVENTS.md).
public struct WebhookSubscription: Sendable, Hashable {
    /// Names the subscription in the outbox, dead letters and logs.
    public var name: String
    public var url: String
    /// Standard Webhooks signing secret, `whsec_` and base64.
    public var secret: String
    /// Event types or patterns: `order.changed`, `cancellation.*`, `*`.
    public var events: [String]

    public init(name: String, url: String, secret: String, events: [String]) {
        self.name = name
        self.url = url
        self.secret = secret
        self.events = events
    }
}

/// Webhooks out: the subscriptions, and how their events are delivered.
public struct WebhookConfiguration: Sendable, Hashable {
    public var subscriptions: [WebhookSubscription] = []
    public var timeoutMs = 5000
    public var maxAttempts = 12
    public var backoffBaseMs = 1000
    public var backoffCapMs = 300_000
    public var pollIntervalMs = 200
    /// Keys (orders, skus) one pass delivers, and events per key.
    public var batchKeys = 100
    public var eventsPerKey = 50
    /// How long sent events are kept in the outbox.
    public var retentionMs: Int64 = 86_400_000

    public init() {}

    /// What the store writes for whom.
    public var routes: EventRoutes {
        EventRoutes(subscriptions.map { EventRoutes.Route(subscription: $0.name, patterns: $0.events) })
    }
}

/// Delivers the event outbox: each subscription's events of one key in order, at least once,
/// signed the Standard Webhooks way with the subscription's secret; a failure is retried with capped
/// jittered backoff (the key's later events wait), the last one becomes a dead letter.
final class WebhookDelivery: Sendable {
    private let storage: any StorePort
    private let configuration: WebhookConfiguration
    private let subscriptions: [String: (subscription: WebhookSubscription, signer: WebhookSigner)]
    private let poster: SignedPoster?
    private let loop: any EventLoop
    private let logger: Logger
    private let polling: PollingLoop
    private let lastPruneMs = NIOLockedValueBox<Int64>(0)

    init(storage: any StorePort, configuration: WebhookConfiguration, group: any EventLoopGroup, logger: Logger) throws
    {
        self.storage = storage
        self.configuration = configuration
        self.loop = group.next()
        self.logger = logger
        polling = PollingLoop(loop: loop)
        var subscriptions: [String: (WebhookSubscription, WebhookSigner)] = [:]
        for subscription in configuration.subscriptions {
            subscriptions[subscription.name] = (subscription, try WebhookSigner(secret: subscription.secret))
        }
        self.subscriptions = subscriptions
        poster = subscriptions.isEmpty ? nil : SignedPoster(timeoutMs: configuration.timeoutMs, group: group)
    }

    func start() {
        guard poster != nil else { return }
        polling.start(every: .milliseconds(Int64(configuration.pollIntervalMs))) { [self] in await pass() }
    }

    /// Stops polling, waits for the pass in flight, and closes the HTTP client.
    func stop() async {
        await polling.stop()
        await poster?.shutdown()
    }

    /// One pass: the due keys' events, keys side by side, each key's in order.
    func pass() async {
        do {
            let nowMs = storage.clock.nowMs()
            let groups = try await storage.dueEvents(
                nowMs: nowMs,
                limit: configuration.batchKeys,
                perKey: configuration.eventsPerKey,
                on: loop
            ).get()
            await withTaskGroup(of: Void.self) { tasks in
                for group in groups { tasks.addTask { await self.deliver(group) } }
            }
            let pruneDue = lastPruneMs.withLockedValue { last -> Bool in
                guard nowMs - last >= 60_000 else { return false }
                last = nowMs
                return true
            }
            if pruneDue {
                _ = try await storage.pruneEvents(beforeMs: nowMs - configuration.retentionMs, on: loop).get()
            }
        } catch {
            logger.error("webhook delivery failed", metadata: ["error": "\(error)"])
        }
    }

    /// One key's events, in order, until one fails.
    private func deliver(_ group: [OutboundEvent]) async {
        for event in group {
            let error = await send(event)
            do {
                guard let error else {
                    try await storage.eventSent(event, on: loop).get()
                    continue
                }
                if event.attempts + 1 >= configuration.maxAttempts {
                    logger.warning(
                        "webhook event dead-lettered",
                        metadata: ["event.id": "\(event.eventID)", "subscription": "\(event.subscription)"]
                    )
                    try await storage.eventDead(event, error: error, on: loop).get()
                } else {
                    let next =
                        storage.clock.nowMs()
                        + NotificationConfiguration.backoffMs(
                            afterAttempts: event.attempts,
                            baseMs: configuration.backoffBaseMs,
                            capMs: configuration.backoffCapMs
                        )
                    try await storage.eventRetry(event, error: error, nextAttemptMs: next, on: loop).get()
                }
            } catch {
                logger.error("webhook outbox update failed", metadata: ["error": "\(error)"])
            }
            return
        }
    }

    /// POSTs one event; nil when the receiver took it (2xx), else why not.
    private func send(_ event: OutboundEvent) async -> String? {
        guard let poster, let (subscription, signer) = subscriptions[event.subscription] else {
            return "no subscription '\(event.subscription)' is configured"
        }
        do {
            let (status, body) = try await poster.post(
                event.payload,
                to: subscription.url,
                id: event.eventID,
                signer: signer,
                replyLimit: 16 * 1024
            )
            guard (200..<300).contains(status.code) else { return "HTTP \(status.code) \(body.prefix(200))" }
            return nil
        } catch {
            return "\(subscription.url): \(error)"
        }
    }
}
