import Foundation
import Logging
import NIOCore
import PartialCancelStorage
import PostgresNIO

/// The PostgreSQL schema, as numbered forward-only migrations (as for SQLite: a released migration
/// is never edited; changes come as a new number). Money is `bigint` (minor units), bodies are
/// `bytea` in `BodyCodec`'s form beside the columns that constraints and indexes need, and every
/// rule the SQLite schema and the audit state that a table can hold is a constraint here.
enum PostgresSchema {
    struct Migration {
        let version: Int64
        let name: String
        let sql: String
    }

    static let all: [Migration] = [
        Migration(
            version: 1,
            name: "orders, cancellations, refunds, stock, outbox, messages, idempotency, dead letters",
            sql: """
                CREATE TABLE orders (
                    id text PRIMARY KEY,
                    channel text NOT NULL,
                    external_id text NOT NULL,
                    account_id text NOT NULL,
                    status text NOT NULL,
                    version bigint NOT NULL CHECK (version >= 1),
                    total bigint NOT NULL CHECK (total >= 0),
                    -- The total at intake, never changed (orders_ingested_total_fixed): the audit checks
                    -- total + refunded against it, and a refund can only lower the total.
                    ingested_total bigint NOT NULL CHECK (ingested_total >= 0),
                    body bytea NOT NULL,
                    created_ms bigint NOT NULL,
                    updated_ms bigint NOT NULL,
                    UNIQUE (channel, external_id),
                    CHECK (total <= ingested_total)
                );
                CREATE INDEX orders_account ON orders (account_id);

                CREATE FUNCTION pcancel_ingested_total_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.ingested_total IS DISTINCT FROM OLD.ingested_total THEN
                        RAISE EXCEPTION 'orders.ingested_total never changes';
                    END IF;
                    RETURN NEW;
                END $$;
                CREATE TRIGGER orders_ingested_total_fixed BEFORE UPDATE ON orders
                    FOR EACH ROW EXECUTE FUNCTION pcancel_ingested_total_fixed();

                -- Numbered per order in commit order: changes to an order are serialised by its row lock.
                CREATE TABLE order_history (
                    order_id text NOT NULL REFERENCES orders (id),
                    seq bigint NOT NULL CHECK (seq >= 1),
                    at_ms bigint NOT NULL,
                    actor text NOT NULL,
                    event text NOT NULL,
                    subject text NOT NULL,
                    from_state text NOT NULL,
                    to_state text NOT NULL,
                    detail text NOT NULL,
                    PRIMARY KEY (order_id, seq)
                );

                CREATE TABLE cancellation_requests (
                    id text PRIMARY KEY,
                    order_id text NOT NULL REFERENCES orders (id),
                    number bigint NOT NULL CHECK (number >= 1),
                    state text NOT NULL,
                    token_sha256 bytea NOT NULL CHECK (length(token_sha256) = 32),
                    body bytea NOT NULL,
                    created_ms bigint NOT NULL,
                    updated_ms bigint NOT NULL,
                    UNIQUE (order_id, number),
                    CHECK (id = order_id || '/c' || number)
                );

                -- One refund per confirmed request, ever: a unique key, not only an idempotency key.
                CREATE TABLE refunds (
                    refund_id text PRIMARY KEY,
                    cancellation_id text NOT NULL UNIQUE REFERENCES cancellation_requests (id),
                    order_id text NOT NULL REFERENCES orders (id),
                    amount bigint NOT NULL CHECK (amount >= 0),
                    currency text NOT NULL CHECK (length(currency) = 3),
                    body bytea NOT NULL,
                    created_ms bigint NOT NULL
                );
                CREATE INDEX refunds_order ON refunds (order_id);

                CREATE TABLE stock (
                    sku text NOT NULL,
                    location text NOT NULL,
                    on_hand bigint NOT NULL CHECK (on_hand >= 0),
                    reserved bigint NOT NULL CHECK (reserved >= 0),
                    updated_ms bigint NOT NULL,
                    PRIMARY KEY (sku, location)
                );

                -- The last stock history number of each sku: its row lock orders the sku's changes.
                CREATE TABLE stock_sequences (
                    sku text PRIMARY KEY,
                    last_seq bigint NOT NULL CHECK (last_seq >= 1)
                );

                CREATE TABLE stock_history (
                    sku text NOT NULL,
                    seq bigint NOT NULL CHECK (seq >= 1),
                    at_ms bigint NOT NULL,
                    location text NOT NULL,
                    on_hand bigint NOT NULL,
                    reserved bigint NOT NULL,
                    cause text NOT NULL,
                    reference text NOT NULL,
                    PRIMARY KEY (sku, seq)
                );

                -- Stock changes for another database of the shard map, written in the transaction
                -- that causes them, delivered at least once and applied once (applied_messages).
                CREATE TABLE outbox (
                    seq bigserial PRIMARY KEY,
                    message_id text NOT NULL UNIQUE,
                    destination integer NOT NULL CHECK (destination >= 0),
                    kind text NOT NULL,
                    cancellation_id text NOT NULL,
                    payload bytea NOT NULL,
                    created_ms bigint NOT NULL,
                    delivered_ms bigint
                );
                CREATE INDEX outbox_pending ON outbox (seq) WHERE delivered_ms IS NULL;
                CREATE INDEX outbox_cancellation ON outbox (cancellation_id) WHERE delivered_ms IS NULL;

                -- Stock messages applied here, each recorded with the change it made: exactly once.
                CREATE TABLE applied_messages (
                    message_id text PRIMARY KEY,
                    applied_ms bigint NOT NULL
                );

                -- Customer messages: the bodies hold a marker where the confirmation token goes; the
                -- token is sealed per row (AES-GCM, key outside the database).
                CREATE TABLE portal_inbox (
                    id bigserial PRIMARY KEY,
                    account_id text NOT NULL,
                    cancellation_id text NOT NULL,
                    kind text NOT NULL,
                    subject text NOT NULL,
                    body text NOT NULL,
                    token_sealed bytea,
                    created_ms bigint NOT NULL
                );
                CREATE INDEX portal_inbox_account ON portal_inbox (account_id, id);

                CREATE TABLE email_outbox (
                    id bigserial PRIMARY KEY,
                    recipient text NOT NULL,
                    subject text NOT NULL,
                    body text NOT NULL,
                    cancellation_id text NOT NULL,
                    state text NOT NULL CHECK (state IN ('PENDING', 'SENT', 'DEAD')),
                    attempts bigint NOT NULL CHECK (attempts >= 0),
                    next_attempt_ms bigint NOT NULL,
                    last_error text NOT NULL,
                    token_sealed bytea,
                    created_ms bigint NOT NULL,
                    sent_ms bigint,
                    CHECK (state <> 'SENT' OR token_sealed IS NULL)
                );
                CREATE INDEX email_outbox_due ON email_outbox (next_attempt_ms, id) WHERE state = 'PENDING';

                -- Per (principal, method, key): the request's fingerprint and, once done, its reply.
                CREATE TABLE idempotency_keys (
                    scope text PRIMARY KEY,
                    fingerprint bytea NOT NULL,
                    completed boolean NOT NULL DEFAULT false,
                    status bytea,
                    response bytea,
                    created_ms bigint NOT NULL,
                    completed_ms bigint,
                    CHECK (NOT completed OR (status IS NOT NULL AND response IS NOT NULL))
                );
                CREATE INDEX idempotency_keys_created ON idempotency_keys (created_ms);

                CREATE TABLE dead_letters (
                    id bigserial PRIMARY KEY,
                    kind text NOT NULL,
                    priority bigint NOT NULL,
                    reason text NOT NULL,
                    detail text NOT NULL,
                    subject text NOT NULL,
                    payload bytea NOT NULL,
                    payload_sha256 text NOT NULL CHECK (length(payload_sha256) = 64),
                    attempts bigint NOT NULL CHECK (attempts >= 1),
                    created_ms bigint NOT NULL,
                    updated_ms bigint NOT NULL,
                    resolution text NOT NULL DEFAULT '' CHECK (resolution IN ('', 'REDRIVEN', 'DISCARDED')),
                    resolved_ms bigint,
                    CHECK ((resolved_ms IS NULL) = (resolution = ''))
                );
                CREATE INDEX dead_letters_page ON dead_letters (priority DESC, created_ms, id) WHERE resolved_ms IS NULL;

                CREATE TABLE dead_letter_history (
                    seq bigserial PRIMARY KEY,
                    dead_letter_id bigint NOT NULL REFERENCES dead_letters (id),
                    at_ms bigint NOT NULL,
                    actor text NOT NULL,
                    event text NOT NULL,
                    detail text NOT NULL
                );
                CREATE INDEX dead_letter_history_letter ON dead_letter_history (dead_letter_id, seq);

                -- Which part of the shard map this database holds: fixed when it is first used, since
                -- orders and stock live where the map put them.
                CREATE TABLE shard_map (
                    id integer PRIMARY KEY CHECK (id = 1),
                    database_index integer NOT NULL CHECK (database_index >= 0),
                    database_count integer NOT NULL CHECK (database_count > database_index)
                );
                """
        ),
        Migration(
            version: 2,
            name: "wrong-token counts shared by the nodes",
            sql: """
                -- Per caller (the principal, and for a portal the customer): the wrong confirmation
                -- tokens in the window that started at window_start_ms. Held by the shard map's
                -- first database.
                CREATE TABLE token_failures (
                    caller text PRIMARY KEY,
                    window_start_ms bigint NOT NULL,
                    failures bigint NOT NULL CHECK (failures >= 1)
                );
                CREATE INDEX token_failures_window ON token_failures (window_start_ms);
                """
        ),
        Migration(
            version: 3,
            name: "fulfilment events",
            sql: """
                -- Fulfilment events applied or ignored, beside their order: a second event with the same
                -- source and id is answered with what was decided the first time. Refused events are not
                -- here (they are dead letters, and may come again once fixed).
                CREATE TABLE fulfilment_events (
                    source text NOT NULL,
                    event_id text NOT NULL,
                    order_id text NOT NULL REFERENCES orders (id),
                    line_id text NOT NULL,
                    result text NOT NULL CHECK (result IN ('APPLIED', 'IGNORED')),
                    detail text NOT NULL,
                    order_version bigint NOT NULL CHECK (order_version >= 1),
                    occurred_ms bigint NOT NULL,
                    received_ms bigint NOT NULL,
                    PRIMARY KEY (source, event_id)
                );
                CREATE INDEX fulfilment_events_order ON fulfilment_events (order_id);
                """
        ),
        Migration(
            version: 4,
            name: "refund allocations",
            sql: """
                -- Each refund's tender allocations on their way to the payment service: written with the
                -- refund, sent until the service takes them (attempts, backoff, then dead), settled once.
                -- A node sending them leases them (next_attempt_ms moves past the lease).
                CREATE TABLE refund_allocations (
                    id text PRIMARY KEY,
                    order_id text NOT NULL REFERENCES orders (id),
                    refund_id text NOT NULL REFERENCES refunds (refund_id),
                    state text NOT NULL CHECK (state IN ('PENDING', 'SUCCEEDED', 'FAILED')),
                    accepted boolean NOT NULL,
                    dead boolean NOT NULL,
                    attempts bigint NOT NULL CHECK (attempts >= 0),
                    next_attempt_ms bigint NOT NULL,
                    last_error text NOT NULL,
                    amount bigint NOT NULL CHECK (amount > 0),
                    body bytea NOT NULL,
                    created_ms bigint NOT NULL,
                    updated_ms bigint NOT NULL,
                    CHECK (state = 'PENDING' OR NOT (accepted OR dead))
                );
                CREATE INDEX refund_allocations_due ON refund_allocations (next_attempt_ms)
                    WHERE state = 'PENDING' AND NOT accepted AND NOT dead;
                CREATE INDEX refund_allocations_order ON refund_allocations (order_id);
                """
        ),
        Migration(
            version: 5,
            name: "event outbox",
            sql: """
                -- Events for touchpoints' webhook subscriptions, one row per subscription, written in the
                -- transaction of the change; delivered in seq order per subscription and key (an order id,
                -- or sku:SKU), at least once; a row that gives up (DEAD) holds its key's later ones back.
                CREATE TABLE event_outbox (
                    id bigserial PRIMARY KEY,
                    subscription text NOT NULL,
                    key text NOT NULL,
                    seq bigint NOT NULL CHECK (seq >= 1),
                    type text NOT NULL,
                    payload bytea NOT NULL,
                    state text NOT NULL CHECK (state IN ('PENDING', 'SENT', 'DEAD')),
                    attempts bigint NOT NULL CHECK (attempts >= 0),
                    next_attempt_ms bigint NOT NULL,
                    last_error text NOT NULL,
                    created_ms bigint NOT NULL,
                    sent_ms bigint,
                    UNIQUE (subscription, key, seq),
                    CHECK ((state = 'SENT') = (sent_ms IS NOT NULL))
                );
                CREATE INDEX event_outbox_open ON event_outbox (subscription, key, seq) WHERE state <> 'SENT';
                CREATE INDEX event_outbox_sent ON event_outbox (sent_ms) WHERE state = 'SENT';
                """
        ),
    ]

    /// The lock every node takes to migrate, so that nodes starting together migrate once.
    static let migrationLock: Int64 = 0x7063_616e_6365_6c01

    /// Brings the database to the newest version on `connection`; returns the versions applied.
    /// Blocks: called once at open, off the event loops.
    static func migrate(
        _ connection: PostgresConnection,
        database: String,
        now: Int64,
        logger: Logger
    ) throws
        -> [Int64]
    {
        func run(_ query: PostgresQuery) throws -> [PostgresRow] {
            try connection.query(query, logger: logger).wait().rows
        }
        _ = try run(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, name text NOT NULL, applied_ms bigint NOT NULL)"
        )
        _ = try run("BEGIN")
        do {
            _ = try run("SELECT pg_advisory_xact_lock(\(migrationLock))")
            let current =
                try run("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").first?.decode(Int64.self) ?? 0
            if let newest = all.last?.version, current > newest {
                throw StorageError(
                    code: 0,
                    "\(database) has schema version \(current), newer than this server's \(newest); upgrade the server"
                )
            }
            var applied: [Int64] = []
            for migration in all where migration.version > current {
                // One statement per query: the extended protocol takes no more.
                for statement in statements(migration.sql) { _ = try run(PostgresQuery(unsafeSQL: statement)) }
                _ = try run(
                    "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (\(migration.version), \(migration.name), \(now))"
                )
                applied.append(migration.version)
            }
            _ = try run("COMMIT")
            return applied
        } catch {
            _ = try? run("ROLLBACK")
            throw error
        }
    }

    /// Records this database's place in the shard map on first use, and refuses a map that
    /// places it elsewhere (its orders and stock would be looked for in other databases).
    static func checkShardMap(
        _ connection: PostgresConnection,
        database: String,
        index: Int,
        count: Int,
        logger: Logger
    )
        throws
    {
        _ = try connection.query(
            """
            INSERT INTO shard_map (id, database_index, database_count) VALUES (1, \(Int32(index)), \(Int32(count)))
            ON CONFLICT DO NOTHING
            """,
            logger: logger
        ).wait()
        let row = try connection.query("SELECT database_index, database_count FROM shard_map", logger: logger).wait()
            .rows
            .first
        guard let (storedIndex, storedCount) = try row?.decode((Int32, Int32).self) else { return }
        guard storedIndex == index && storedCount == count else {
            throw StorageError(
                code: 0,
                "\(database) holds part \(storedIndex + 1) of a shard map of \(storedCount) databases, but storage.postgres lists it as part \(index + 1) of \(count); list the databases as they were when the data was first stored"
            )
        }
    }

    /// The statements of a migration: split at semicolons that end a line, outside `$$` bodies.
    static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var inBody = false
        for line in sql.split(separator: "\n", omittingEmptySubsequences: false) {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("--") { continue }
            current += line + "\n"
            if text.components(separatedBy: "$$").count % 2 == 0 { inBody.toggle() }
            if !inBody && text.hasSuffix(";") {
                statements.append(current.trimmingCharacters(in: .whitespacesAndNewlines))
                current = ""
            }
        }
        let rest = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !rest.isEmpty { statements.append(rest) }
        return statements
    }
}
