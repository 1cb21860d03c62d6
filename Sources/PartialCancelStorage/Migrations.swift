/// The schema, as numbered forward-only migrations. A migration is never edited once released:
/// changes come as a new number. Each runs in its own transaction with its row in
/// `schema_migrations`, so a crash mid-way leaves the schema at the previous number.
enum Migrations {
    struct Migration {
        let version: Int64
        let name: String
        let sql: String
    }

    static let all: [Migration] = [
        Migration(
            version: 1,
            name: "orders, stock, outbox, dead letters, history",
            sql: """
                CREATE TABLE orders (
                    id TEXT PRIMARY KEY,
                    channel TEXT NOT NULL,
                    external_id TEXT NOT NULL,
                    account_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    version INTEGER NOT NULL CHECK (version >= 1),
                    total INTEGER NOT NULL CHECK (total >= 0),
                    body BLOB NOT NULL,
                    created_ms INTEGER NOT NULL,
                    updated_ms INTEGER NOT NULL,
                    UNIQUE (channel, external_id)
                ) STRICT;
                CREATE INDEX orders_account ON orders (account_id);

                CREATE TABLE order_history (
                    order_id TEXT NOT NULL REFERENCES orders (id),
                    seq INTEGER NOT NULL,
                    at_ms INTEGER NOT NULL,
                    actor TEXT NOT NULL,
                    event TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    PRIMARY KEY (order_id, seq)
                ) STRICT;

                CREATE TABLE stock (
                    sku TEXT NOT NULL,
                    location TEXT NOT NULL,
                    on_hand INTEGER NOT NULL CHECK (on_hand >= 0),
                    reserved INTEGER NOT NULL CHECK (reserved >= 0),
                    updated_ms INTEGER NOT NULL,
                    PRIMARY KEY (sku, location)
                ) STRICT;

                -- Messages to other shards, written in the transaction that causes them.
                CREATE TABLE outbox (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    message_id TEXT NOT NULL UNIQUE,
                    destination INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    created_ms INTEGER NOT NULL,
                    delivered_ms INTEGER
                ) STRICT;
                CREATE INDEX outbox_pending ON outbox (seq) WHERE delivered_ms IS NULL;

                -- Messages from any shard applied here, recorded with the change they made: exactly once.
                CREATE TABLE applied_messages (
                    message_id TEXT PRIMARY KEY,
                    applied_ms INTEGER NOT NULL
                ) STRICT;

                CREATE TABLE dead_letters (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind TEXT NOT NULL,
                    priority INTEGER NOT NULL,
                    reason TEXT NOT NULL,
                    detail TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    attempts INTEGER NOT NULL,
                    created_ms INTEGER NOT NULL,
                    updated_ms INTEGER NOT NULL,
                    resolved_ms INTEGER
                ) STRICT;
                CREATE INDEX dead_letters_open ON dead_letters (priority DESC, id) WHERE resolved_ms IS NULL;
                """
        ),
        Migration(
            version: 2,
            name: "cancellation requests, portal inbox",
            sql: """
                CREATE TABLE cancellation_requests (
                    id TEXT PRIMARY KEY,
                    order_id TEXT NOT NULL REFERENCES orders (id),
                    number INTEGER NOT NULL,
                    state TEXT NOT NULL,
                    token_sha256 BLOB NOT NULL,
                    body BLOB NOT NULL,
                    created_ms INTEGER NOT NULL,
                    updated_ms INTEGER NOT NULL,
                    UNIQUE (order_id, number)
                ) STRICT;

                CREATE TABLE portal_inbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    account_id TEXT NOT NULL,
                    cancellation_id TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    body TEXT NOT NULL,
                    created_ms INTEGER NOT NULL
                ) STRICT;
                CREATE INDEX portal_inbox_account ON portal_inbox (account_id, id);
                """
        ),
        Migration(
            version: 3,
            name: "refunds",
            sql: """
                -- One refund per confirmed request, ever: a unique key, not only an idempotency key.
                CREATE TABLE refunds (
                    refund_id TEXT PRIMARY KEY,
                    cancellation_id TEXT NOT NULL UNIQUE REFERENCES cancellation_requests (id),
                    order_id TEXT NOT NULL REFERENCES orders (id),
                    amount INTEGER NOT NULL CHECK (amount >= 0),
                    currency TEXT NOT NULL,
                    body BLOB NOT NULL,
                    created_ms INTEGER NOT NULL
                ) STRICT;
                CREATE INDEX refunds_order ON refunds (order_id);
                """
        ),
        Migration(
            version: 4,
            name: "idempotency keys",
            sql: """
                -- Per (principal, method, key): the request's fingerprint and, once done, its reply.
                CREATE TABLE idempotency_keys (
                    scope TEXT PRIMARY KEY,
                    fingerprint BLOB NOT NULL,
                    completed INTEGER NOT NULL DEFAULT 0,
                    status BLOB,
                    response BLOB,
                    created_ms INTEGER NOT NULL,
                    completed_ms INTEGER
                ) STRICT;
                CREATE INDEX idempotency_keys_created ON idempotency_keys (created_ms);
                """
        ),
        Migration(
            version: 5,
            name: "email outbox",
            sql: """
                -- Emails to customers, written in the transaction that causes them; delivered with retries.
                CREATE TABLE email_outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    recipient TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    body TEXT NOT NULL,
                    cancellation_id TEXT NOT NULL,
                    state TEXT NOT NULL,          -- PENDING, SENT, DEAD
                    attempts INTEGER NOT NULL,
                    next_attempt_ms INTEGER NOT NULL,
                    last_error TEXT NOT NULL,
                    created_ms INTEGER NOT NULL,
                    sent_ms INTEGER
                ) STRICT;
                CREATE INDEX email_outbox_due ON email_outbox (next_attempt_ms) WHERE state = 'PENDING';
                """
        ),
        Migration(
            version: 6,
            name: "audit states, stock history",
            sql: """
                -- Each history entry names what changed and its state before and after.
                ALTER TABLE order_history ADD COLUMN subject TEXT NOT NULL DEFAULT '';
                ALTER TABLE order_history ADD COLUMN from_state TEXT NOT NULL DEFAULT '';
                ALTER TABLE order_history ADD COLUMN to_state TEXT NOT NULL DEFAULT '';

                -- Every change of a stock pool, numbered per sku: what stock watchers resume from.
                CREATE TABLE stock_history (
                    sku TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    at_ms INTEGER NOT NULL,
                    location TEXT NOT NULL,
                    on_hand INTEGER NOT NULL,
                    reserved INTEGER NOT NULL,
                    cause TEXT NOT NULL,
                    reference TEXT NOT NULL,
                    PRIMARY KEY (sku, seq)
                ) STRICT;
                """
        ),
        Migration(
            version: 7,
            name: "dead letter paging, hashes, discards, history",
            sql: """
                -- The payload's SHA-256 (hex), kept so that lists need not read payloads; letters stored
                -- before this migration get theirs when the shard opens.
                ALTER TABLE dead_letters ADD COLUMN payload_sha256 TEXT;
                -- How a resolved letter was closed: REDRIVEN or DISCARDED ('' for letters closed before).
                ALTER TABLE dead_letters ADD COLUMN resolution TEXT NOT NULL DEFAULT '';
                -- The list order, for paging by position.
                CREATE INDEX dead_letters_page ON dead_letters (priority DESC, created_ms, id) WHERE resolved_ms IS NULL;

                -- What happened to each dead letter: DEAD_LETTERED, REDRIVE_FAILED, REDRIVEN, DISCARDED.
                CREATE TABLE dead_letter_history (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    dead_letter_id INTEGER NOT NULL REFERENCES dead_letters (id),
                    at_ms INTEGER NOT NULL,
                    actor TEXT NOT NULL,
                    event TEXT NOT NULL,
                    detail TEXT NOT NULL
                ) STRICT;
                CREATE INDEX dead_letter_history_letter ON dead_letter_history (dead_letter_id, seq);
                """
        ),
        Migration(
            version: 8,
            name: "sealed confirmation tokens, storage probe",
            sql: """
                -- A customer message's confirmation token, sealed (AES-GCM, key outside the data directory);
                -- the body holds a marker in its place. NULL: the message carries no token (any more).
                ALTER TABLE portal_inbox ADD COLUMN token_sealed BLOB;
                ALTER TABLE email_outbox ADD COLUMN token_sealed BLOB;

                -- One row, rewritten to find out whether a shard that ran out of space can write again.
                CREATE TABLE storage_probe (id INTEGER PRIMARY KEY CHECK (id = 1), at_ms INTEGER NOT NULL) STRICT;
                INSERT INTO storage_probe (id, at_ms) VALUES (1, 0);
                """
        ),
        Migration(
            version: 9,
            name: "completed data steps",
            sql: """
                -- Data steps that follow a migration but need the server (the token key, a hash function),
                -- such as sealing the tokens earlier versions stored in plaintext: each is recorded here once
                -- it has completed, and never runs (nor scans its tables) again.
                CREATE TABLE completed_steps (name TEXT PRIMARY KEY, completed_ms INTEGER NOT NULL) STRICT;
                """
        ),
        Migration(
            version: 10,
            name: "orders' total at intake",
            sql: """
                -- The order's total when it was ingested, written once with the order and never changed:
                -- the audit checks total + refunded against it. Orders stored before this migration get
                -- the total their INGESTED history entry recorded ("total 79504 USD", or before schema 6
                -- "status CONFIRMED, total 79504 USD"; CAST reads the leading digits).
                ALTER TABLE orders ADD COLUMN ingested_total INTEGER CHECK (ingested_total >= 0);
                UPDATE orders SET ingested_total = (
                    SELECT CAST(substr(h.detail, instr(h.detail, 'total ') + 6) AS INTEGER)
                    FROM order_history h
                    WHERE h.order_id = orders.id AND h.event = 'INGESTED' AND instr(h.detail, 'total ') > 0
                    ORDER BY h.seq LIMIT 1
                );
                CREATE TRIGGER orders_ingested_total_fixed BEFORE UPDATE OF ingested_total ON orders
                BEGIN
                    SELECT RAISE(ABORT, 'orders.ingested_total never changes');
                END;
                """
        ),
        Migration(
            version: 11,
            name: "fulfilment events",
            sql: """
                -- Fulfilment events applied or ignored, in the shard of their order: a second event with
                -- the same source and id is answered with what was decided the first time. Refused events
                -- are not here (they are dead letters, and may come again once fixed).
                CREATE TABLE fulfilment_events (
                    source TEXT NOT NULL,
                    event_id TEXT NOT NULL,
                    order_id TEXT NOT NULL,
                    line_id TEXT NOT NULL,
                    result TEXT NOT NULL CHECK (result IN ('APPLIED', 'IGNORED')),
                    detail TEXT NOT NULL,
                    order_version INTEGER NOT NULL CHECK (order_version >= 1),
                    occurred_ms INTEGER NOT NULL,
                    received_ms INTEGER NOT NULL,
                    PRIMARY KEY (source, event_id)
                ) STRICT;
                CREATE INDEX fulfilment_events_order ON fulfilment_events (order_id);
                """
        ),
        Migration(
            version: 12,
            name: "refund allocations",
            sql: """
                -- Each refund's tender allocations on their way to the payment service: written with the
                -- refund, sent until the service takes them (attempts, backoff, then dead), settled once.
                CREATE TABLE refund_allocations (
                    id TEXT PRIMARY KEY,
                    order_id TEXT NOT NULL,
                    refund_id TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('PENDING', 'SUCCEEDED', 'FAILED')),
                    accepted INTEGER NOT NULL CHECK (accepted IN (0, 1)),
                    dead INTEGER NOT NULL CHECK (dead IN (0, 1)),
                    attempts INTEGER NOT NULL CHECK (attempts >= 0),
                    next_attempt_ms INTEGER NOT NULL,
                    last_error TEXT NOT NULL,
                    amount INTEGER NOT NULL CHECK (amount > 0),
                    body BLOB NOT NULL,
                    created_ms INTEGER NOT NULL,
                    updated_ms INTEGER NOT NULL,
                    CHECK (state = 'PENDING' OR (accepted = 0 AND dead = 0))
                ) STRICT;
                CREATE INDEX refund_allocations_due ON refund_allocations (next_attempt_ms)
                    WHERE state = 'PENDING' AND accepted = 0 AND dead = 0;
                CREATE INDEX refund_allocations_order ON refund_allocations (order_id);
                """
        ),
        Migration(
            version: 13,
            name: "event outbox",
            sql: """
                -- Events for touchpoints' webhook subscriptions, one row per subscription, written in the
                -- transaction of the change; delivered in seq order per subscription and key (an order id,
                -- or sku:SKU), at least once; a row that gives up (DEAD) holds its key's later ones back.
                CREATE TABLE event_outbox (
                    id INTEGER PRIMARY KEY,
                    subscription TEXT NOT NULL,
                    key TEXT NOT NULL,
                    seq INTEGER NOT NULL CHECK (seq >= 1),
                    type TEXT NOT NULL,
                    payload BLOB NOT NULL,
                    state TEXT NOT NULL CHECK (state IN ('PENDING', 'SENT', 'DEAD')),
                    attempts INTEGER NOT NULL CHECK (attempts >= 0),
                    next_attempt_ms INTEGER NOT NULL,
                    last_error TEXT NOT NULL,
                    created_ms INTEGER NOT NULL,
                    sent_ms INTEGER,
                    UNIQUE (subscription, key, seq)
                ) STRICT;
                CREATE INDEX event_outbox_open ON event_outbox (subscription, key, seq) WHERE state <> 'SENT';
                CREATE INDEX event_outbox_sent ON event_outbox (sent_ms) WHERE state = 'SENT';
                """
        ),
    ]

    /// Brings the database to the newest version; returns the versions it applied.
    static func migrate(_ db: SQLiteConnection, now: Int64) throws -> [Int64] {
        try db.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms INTEGER NOT NULL) STRICT
            """
        )
        let current = try db.first("SELECT COALESCE(MAX(version), 0) FROM schema_migrations") { $0.int(0) } ?? 0
        if let newest = all.last?.version, current > newest {
            throw StorageError(
                code: 0,
                "\(db.path) has schema version \(current), newer than this server's \(newest); upgrade the server"
            )
        }
        var applied: [Int64] = []
        for migration in all where migration.version > current {
            try db.transaction {
                try db.execute(migration.sql)
                try db.run(
                    "INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?1, ?2, ?3)",
                    [.integer(migration.version), .text(migration.name), .integer(now)]
                )
            }
            applied.append(migration.version)
        }
        return applied
    }
}
