import CSQLite
import Foundation

/// A failed SQLite call, with SQLite's own message.
public struct StorageError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    /// The operating system's errno behind an I/O error (`sqlite3_system_errno`), 0 if none.
    public var systemErrno: Int32 = 0
    /// The database file (its name in the data directory, e.g. `shard-0.sqlite`), when known.
    public var file: String = ""

    public init(code: Int32, _ message: String, systemErrno: Int32 = 0, file: String = "") {
        self.code = code
        self.message = message
        self.systemErrno = systemErrno
        self.file = file
    }

    /// The disk (or the file system's quota) is full: SQLITE_FULL, or an I/O error whose cause
    /// was ENOSPC. Writes fail until space is freed; nothing committed is lost.
    public var isStorageFull: Bool {
        let primary = code & 0xFF
        return primary == SQLITE_FULL || (primary == SQLITE_IOERR && (systemErrno == ENOSPC || systemErrno == EDQUOT))
    }

    /// Code 0: a storage rule, not an SQLite call, failed; the message says which.
    public var description: String {
        guard code != 0 else { return message }
        return
            "SQLite error \(code)\(systemErrno != 0 ? " (errno \(systemErrno))" : "")\(file.isEmpty ? "" : " in \(file)"): \(message)"
    }
}

/// A database server that cannot be reached, or that lost the connection during a call (the
/// PostgreSQL backend). A transaction commits whole or not at all, so nothing is half-done; when
/// the connection broke during COMMIT, the outcome is unknown, which a retry with the same
/// idempotency key settles.
public struct DatabaseUnavailable: Error, Hashable, Sendable, CustomStringConvertible {
    /// Which database, e.g. `database 0 (127.0.0.1:5432)`.
    public var database: String
    public var message: String

    public init(database: String, _ message: String) {
        self.database = database
        self.message = message
    }

    public var description: String { "\(database) is unavailable: \(message)" }
}

/// A value bound to or read from a statement.
public enum SQLValue: Sendable, Hashable {
    case integer(Int64)
    case text(String)
    case blob([UInt8])
    case null
}

/// SQLite's "copy the bytes now" destructor: `SQLITE_TRANSIENT` itself is a macro Swift cannot import.
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

/// One SQLite connection. Not thread-safe: a shard worker owns it and uses it from its own thread only.
final class SQLiteConnection {
    let handle: OpaquePointer
    let path: String
    private var statements: [String: OpaquePointer] = [:]

    init(path: String) throws(StorageError) {
        // Created 0600 before SQLite sees it: SQLite gives the -wal and -shm files the database's mode.
        try DataDirectory.createPrivateFile(path)
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw StorageError(code: rc, "\(path): \(message)")
        }
        self.handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    private func error(_ rc: Int32) -> StorageError {
        StorageError(
            code: rc,
            String(cString: sqlite3_errmsg(handle)),
            systemErrno: sqlite3_system_errno(handle),
            file: (path as NSString).lastPathComponent
        )
    }

    /// Runs one or more statements without parameters or results.
    func execute(_ sql: String) throws(StorageError) {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc) }
    }

    /// The prepared statement for `sql`, prepared once per connection and reused.
    private func statement(_ sql: String) throws(StorageError) -> OpaquePointer {
        if let cached = statements[sql] { return cached }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc) }
        statements[sql] = statement
        return statement
    }

    /// Runs `sql` with `values` bound to `?1...`, calling `row` for each result row.
    func query(_ sql: String, _ values: [SQLValue] = [], row: (Row) throws(StorageError) -> Void) throws(StorageError) {
        let statement = try statement(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
        }
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32 =
                switch value {
                case .integer(let int): sqlite3_bind_int64(statement, index, int)
                case .text(let text): sqlite3_bind_text(statement, index, text, -1, transient)
                case .blob(let bytes):
                    bytes.withUnsafeBytes {
                        sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), transient)
                    }
                case .null: sqlite3_bind_null(statement, index)
                }
            guard rc == SQLITE_OK else { throw error(rc) }
        }
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw error(rc) }
            try row(Row(statement: statement))
        }
    }

    /// Runs a statement that returns no rows; returns the number of rows it changed.
    @discardableResult
    func run(_ sql: String, _ values: [SQLValue] = []) throws(StorageError) -> Int {
        try query(sql, values) { _ throws(StorageError) in }
        return Int(sqlite3_changes(handle))
    }

    /// The first row's values mapped by `map`, if any.
    func first<T>(
        _ sql: String,
        _ values: [SQLValue] = [],
        _ map: (Row) throws(StorageError) -> T
    ) throws(StorageError) -> T? {
        var result: T?
        try query(sql, values) { row throws(StorageError) in
            if result == nil { result = try map(row) }
        }
        return result
    }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Rows inserted, updated or deleted on this connection since it opened.
    var totalChanges: Int64 { sqlite3_total_changes64(handle) }

    /// Transactions open on this connection: 0 outside, 1 in a transaction, more in savepoints.
    private(set) var transactionDepth = 0

    /// Runs `body` atomically: committed if it returns, rolled back if it throws. Outside a
    /// transaction this is one immediate transaction; inside one it is a savepoint, so that a
    /// failing part rolls back alone while the enclosing transaction goes on (group commit).
    func transaction<T>(_ body: () throws -> T) throws -> T {
        let savepoint = transactionDepth > 0 ? "s\(transactionDepth)" : nil
        try run(savepoint.map { "SAVEPOINT \($0)" } ?? "BEGIN IMMEDIATE")
        transactionDepth += 1
        let result: T
        do {
            result = try body()
        } catch {
            transactionDepth -= 1
            rollBack(savepoint)
            throw error
        }
        transactionDepth -= 1
        do {
            try run(savepoint.map { "RELEASE \($0)" } ?? "COMMIT")
        } catch {
            rollBack(savepoint)
            throw error
        }
        return result
    }

    private func rollBack(_ savepoint: String?) {
        if let savepoint {
            try? run("ROLLBACK TO \(savepoint)")
            try? run("RELEASE \(savepoint)")
        } else {
            try? run("ROLLBACK")
        }
    }
}

/// The current row of a statement, valid only inside the `row` callback.
struct Row {
    let statement: OpaquePointer

    func int(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    func text(_ column: Int32) -> String {
        guard let pointer = sqlite3_column_text(statement, column) else { return "" }
        return String(cString: pointer)
    }

    func blob(_ column: Int32) -> [UInt8] {
        let count = Int(sqlite3_column_bytes(statement, column))
        guard count > 0, let pointer = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
}
