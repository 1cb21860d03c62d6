import Foundation

/// A throwaway PostgreSQL cluster for the tests of this process: the one `tools/test` started and
/// names in `PCANCEL_TEST_POSTGRES` (or `_2`), or else one started here on first use with
/// `tools/pg-cluster` (initdb in a temporary directory, a free loopback port), stopped and removed
/// once the process has ended. Each test takes a database of its own. Its commands are spawned and
/// reaped here (posix_spawn, waitpid) on a thread of their own: Foundation's `Process` was seen
/// never to notice the exit of the script that starts a server in the background.
public actor PostgresCluster {
    public static let shared = PostgresCluster(environment: "PCANCEL_TEST_POSTGRES")
    /// Another cluster (another PostgreSQL server), for a shard map over two servers; `tools/test`
    /// names it in `PCANCEL_TEST_POSTGRES_2`.
    public static let second = PostgresCluster(environment: "PCANCEL_TEST_POSTGRES_2")

    /// The environment variable that names a cluster started before the tests.
    let environment: String
    private var starting: Task<String, any Error>?

    init(environment: String) { self.environment = environment }

    /// The cluster's URL (its `postgres` database), starting the cluster if needed (once: callers
    /// that arrive meanwhile wait for the same start).
    public func url() async throws -> String {
        if let starting { return try await starting.value }
        // tools/test starts the cluster before the tests and names it here.
        if let given = ProcessInfo.processInfo.environment[environment], !given.isEmpty {
            let task = Task<String, any Error> { given }
            starting = task
            return given
        }
        let directory = "/tmp/pcancel-pg-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let task = Task {
            // The script's watchdog stops the cluster and removes it once this process has ended.
            let started = try await Self.run(Self.script, ["start", directory, "-", "\(getpid())"])
            guard started.status == 0 else {
                throw ProcessFailure("tools/pg-cluster start failed (\(started.status)): \(started.error)")
            }
            return started.output.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        starting = task
        return try await task.value
    }

    /// A new, empty database in the cluster; returns its URL.
    public func newDatabase() async throws -> String {
        let base = try await url()
        let name = "t_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
        let created = try await Self.run(
            URL(fileURLWithPath: "/usr/bin/psql"),
            [base, "-v", "ON_ERROR_STOP=1", "-q", "-c", "CREATE DATABASE \(name)"]
        )
        guard created.status == 0 else { throw ProcessFailure("CREATE DATABASE failed: \(created.error)") }
        return String(base.dropLast("postgres".count)) + name
    }

    /// Runs a command to completion; its standard output and error go through a file.
    static func run(
        _ executable: URL,
        _ arguments: [String]
    ) async throws -> (status: Int32, output: String, error: String) {
        try await offCooperativePool { spawnAndWait(executable.path, arguments) }
    }

    static func spawnAndWait(_ path: String, _ arguments: [String]) -> (status: Int32, output: String, error: String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent(
            "pcancel-pg-cmd-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, path, &actions, nil, argv, environ) == 0 else {
            return (127, "", "cannot run \(path): \(String(cString: strerror(errno)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (code, code == 0 ? text : "", text)
    }

    static let script = Paths.repository.appendingPathComponent("tools/pg-cluster")
}
