import AccountHTTP
import AccountLedger
import AccountServiceApp
import Foundation
import Logging
import PostgresNIO
import PostgresStore
import SQLiteStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The stores a store-independent test runs against: `@Test(arguments: StoreKind.all)`.
package enum StoreKind: String, Sendable, CustomTestStringConvertible {
    /// `postgresReplica`: PostgreSQL, with the reads that may lag served by a streaming standby (`--replica`)
    /// that applies each commit before it is acknowledged, so that a test reads its writes there.
    case sqlite, postgres
    case postgresReplica = "postgres+replica"

    /// SQLite always; PostgreSQL when a server can be had (``TestPostgres``).
    package static let all: [StoreKind] = TestPostgres.isAvailable ? [.sqlite, .postgres] : [.sqlite]
    /// ``all``, and PostgreSQL read through a replica when a standby can be had: for the suites of the reads
    /// that may lag (statements, the feed).
    package static let withReplica: [StoreKind] =
        all + (all.contains(.postgres) && TestPostgres.standbyIsAvailable ? [.postgresReplica] : [])

    package var testDescription: String { rawValue }
}

/// The replicas (`--replica`) of a store of `kind` at `location`: the shared standby's copy of the database for
/// ``StoreKind/postgresReplica``, none otherwise.
package func replicas(of kind: StoreKind, at location: String) async throws -> [String] {
    guard kind == .postgresReplica else { return [] }
    return [try await TestPostgres.sharedStandby.url(of: location)]
}

/// A throw-away PostgreSQL server for the tests, started once per test process: a cluster in a temporary folder,
/// on a free port of 127.0.0.1, run as the `postgres` user when the tests run as root (PostgreSQL refuses root).
/// It stops, and its folder is removed, whenever the test process ends, however it ends: the shell that runs
/// it waits for its standard input, a pipe only this process holds, to close. Each test gets a database of its
/// own (``withTemporaryStore(_:_:)``). `TEST_DATABASE_URL` (a server's URL, for a user who may create
/// databases) points the tests at an existing server instead.
package actor TestPostgres {
    package static let shared = TestPostgres()
    /// A streaming standby of ``shared``, started when a test first asks for it (``url(of:)``).
    package static let sharedStandby = TestPostgres(standbyOf: shared)

    /// `shared`: the one server of the test process, or `TEST_DATABASE_URL`'s. Otherwise a server of the caller's
    /// own, which it may stop and start again (``stop()``, ``start()``), started from PostgreSQL's programs.
    package init(shared: Bool = true) {
        self.useExisting = shared
        self.primary = nil
    }

    /// A streaming standby of `primary` (`pg_basebackup -R` of it, on a port of its own), which follows it
    /// asynchronously: databases that ask for it (``createDatabase(readYourWritesOn:)``) commit only once it
    /// has applied the commit.
    package init(standbyOf primary: TestPostgres) {
        self.useExisting = false
        self.primary = primary
    }

    /// Whether a standby can be had: not of `TEST_DATABASE_URL`'s server.
    package static var standbyIsAvailable: Bool { existingServer == nil && programs != nil }

    private let useExisting: Bool
    private let primary: TestPostgres?
    /// The running server's folder, port and the command prefix that runs a program as its owner.
    private var cluster: (folder: URL, port: Int, user: [String])?

    /// The folder of PostgreSQL's programs (Debian's `postgresql` package), the newest version installed.
    package static let programs: URL? = {
        let root = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return
            versions
            .compactMap { Int($0) }.sorted().reversed()
            .map { root.appendingPathComponent("\($0)/bin") }
            .first { FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent("postgres").path) }
    }()

    package static let existingServer = ProcessInfo.processInfo.environment["TEST_DATABASE_URL"].flatMap {
        $0.isEmpty ? nil : $0
    }

    package static let isAvailable: Bool = {
        if existingServer != nil || programs != nil { return true }
        print(
            "PostgreSQL's programs are not installed (no /usr/lib/postgresql/*/bin/postgres; Debian: apt-get install "
                + "postgresql) and TEST_DATABASE_URL is not set: the PostgreSQL store's tests are skipped.")
        return false
    }()

    /// The server's start, shared by every caller: an actor is reentrant, so a second caller arriving while the
    /// first awaits the server must wait for the same start rather than begin another.
    private var starting: Task<(URLComponents, PostgresClient), any Error>?
    /// The write end of the pipe the server's shell reads, and the shell; never closed, never reaped, while the
    /// process lives.
    private var lifeline: (descriptor: Int32, shell: ChildProcess)?

    /// A new, empty database's URL. With `standby` (a standby of this server), commits to the database wait
    /// until the standby has applied them (`synchronous_commit = remote_apply`), so that what a test reads there
    /// after a write holds it; and the URL is returned once the standby has the database.
    package func createDatabase(readYourWritesOn standby: TestPostgres? = nil) async throws -> String {
        let (url, admin) = try await started()
        let name = "test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"))
        var database = url
        database.path = "/" + name
        if let standby {
            try await admin.query(
                PostgresQuery(unsafeSQL: "ALTER DATABASE \(name) SET synchronous_commit = remote_apply"))
            let replica = try await standby.url(of: database.string!)
            try await PostgresDatabase.probe(url: replica, patience: .seconds(30))
        }
        return database.string!
    }

    /// The URL of the database `url` names (a database of this server's primary, or of this server), on this
    /// server; a standby starts here the first time.
    package func url(of url: String) async throws -> String {
        var (server, _) = try await started()
        server.path = URLComponents(string: url)?.path ?? ""
        return server.string!
    }

    /// This server's port, once it runs.
    package func port() async throws -> Int {
        try await started().0.port!
    }

    package func dropDatabase(_ url: String) async throws {
        let (_, admin) = try await started()
        guard let name = URLComponents(string: url)?.path.dropFirst(), !name.isEmpty else { return }
        try await admin.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
    }

    private func started() async throws -> (URLComponents, PostgresClient) {
        if let starting { return try await starting.value }
        let existing = useExisting ? Self.existingServer : nil
        // Set before the first suspension: every caller from here on waits for this start.
        let task = Task {
            let server: String
            if let existing {
                server = existing
            } else {
                let primary = try await self.primary?.prepareForStandby()
                // initdb and pg_ctl take seconds: on a thread of their own, not one of the few that run every test.
                let launched = try await onThreadOfItsOwn { try Self.launchServer(standbyOf: primary) }
                self.launched(launched)
                server = launched.url
            }
            return try await Self.connect(to: try #require(URLComponents(string: server)))
        }
        starting = task
        return try await task.value
    }

    /// Lets this server have a synchronous standby, that only databases which ask for it wait for
    /// (`synchronous_commit` is `local` elsewhere): returns its port.
    private func prepareForStandby() async throws -> Int {
        let (url, admin) = try await started()
        try await admin.query("ALTER SYSTEM SET synchronous_standby_names = '*'")
        try await admin.query("ALTER SYSTEM SET synchronous_commit = 'local'")
        try await admin.query("SELECT pg_reload_conf()")
        return url.port!
    }

    private func launched(_ server: LaunchedServer) {
        (lifeline, cluster) = (server.lifeline, server.cluster)
    }

    /// An administrative client of the server at `url`, once the server answers.
    private static func connect(to url: URLComponents) async throws -> (URLComponents, PostgresClient) {
        let admin = PostgresClient(
            configuration: try PostgresDatabase.configuration(url: url.string!),
            backgroundLogger: PostgresDatabase.quiet)
        Task.detached { await admin.run() }
        var lastError: (any Error)?
        for _ in 0..<300 {
            do {
                _ = try await PostgresLedgerStore.within(.seconds(2)) { try await admin.query("SELECT 1") }
                return (url, admin)
            } catch {
                lastError = error
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        throw lastError!
    }

    /// A server ``launchServer()`` started: the URL of its `postgres` database, the pipe that keeps it alive, and
    /// where it runs.
    private struct LaunchedServer: @unchecked Sendable {
        let url: String
        let lifeline: (descriptor: Int32, shell: ChildProcess)
        let cluster: (folder: URL, port: Int, user: [String])
    }

    /// initdb (or, for a standby of the server on `primaryPort`, pg_basebackup), then the server, in a new folder
    /// (blocking until it accepts connections).
    private static func launchServer(standbyOf primaryPort: Int? = nil) throws -> LaunchedServer {
        let programs = Self.programs!
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("account-service-postgres-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let asRoot = getuid() == 0
        if asRoot { try run(["/bin/chown", "postgres", folder.path], in: folder) }
        let user = asRoot ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []
        if let primaryPort {
            // -R: the copy starts as a standby that streams from the primary.
            try run(
                user + [
                    programs.appendingPathComponent("pg_basebackup").path, "-h", "127.0.0.1", "-p",
                    String(primaryPort), "-U", "postgres", "-D", folder.appendingPathComponent("data").path, "-R",
                    "-X", "stream", "-c", "fast", "--no-sync",
                ], in: folder)
        } else {
            try run(
                user + [
                    programs.appendingPathComponent("initdb").path, "-D", folder.appendingPathComponent("data").path,
                    "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync",
                ], in: folder)
        }
        let port = try RawConnection.freePort()
        // pg_ctl starts the server detached and waits until it accepts connections; the shell then waits for
        // its standard input to close, stops the server and removes the folder. fsync is off: these tests stop
        // processes, not machines; synchronous_commit stays on, as in production.
        let script = """
            "$1/pg_ctl" start -w -s -D "$2/data" -l "$2/server.log" \\
                -o "-p $3 -k $2 -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400" || exit 1
            echo ready
            read _
            "$1/pg_ctl" stop -s -m fast -D "$2/data"
            rm -rf "$2"
            """
        // The shell's standard input: a pipe whose write end only this process holds (close-on-exec), so that
        // it closes when this process ends, however it ends. (The shell is started with posix_spawn, as every
        // program here is: Foundation's `Process.run` once crashed the suite, in memmove.)
        var pipe: [Int32] = [-1, -1]
        guard Glibc.pipe(&pipe) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        for descriptor in pipe { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        // What it says goes to a file beside the folder (the script removes the folder when it ends).
        let said = folder.appendingPathExtension("log")
        defer { try? FileManager.default.removeItem(at: said) }
        let shell: ChildProcess
        do {
            // The server's own folder: the postgres user may not be able to enter the test process's working
            // directory (a checkout in a 0700 folder such as /root), and initdb and pg_ctl refuse to run there.
            shell = try ChildProcess(
                user + ["/bin/sh", "-c", script, "sh", programs.path, folder.path, String(port)], input: pipe[0],
                output: said.path, in: folder.path)
        } catch {
            for descriptor in pipe { close(descriptor) }
            throw error
        }
        close(pipe[0])
        // pg_ctl -w returns once the server accepts connections (or after its own minute, failing).
        while shell.isRunning {
            if let text = try? String(contentsOf: said, encoding: .utf8), text.hasPrefix("ready") { break }
            usleep(20_000)
        }
        let text = (try? String(contentsOf: said, encoding: .utf8)) ?? ""
        guard text.hasPrefix("ready"), shell.isRunning else {
            close(pipe[1])
            throw TestPostgresError(message: "PostgreSQL did not start: \(text)")
        }
        return LaunchedServer(
            url: "postgres://postgres@127.0.0.1:\(port)/postgres?sslmode=disable", lifeline: (pipe[1], shell),
            cluster: (folder, port, user))
    }

    /// Stops this server as a crash would (immediate mode: no shutdown checkpoint; it recovers from its log).
    package func stop() async throws {
        guard let (folder, _, user) = cluster else { return }
        try await Self.runAside(
            user + [
                Self.programs!.appendingPathComponent("pg_ctl").path, "stop", "-s", "-m", "immediate", "-D",
                folder.appendingPathComponent("data").path,
            ], in: folder)
    }

    /// Freezes this server (SIGSTOP to it and each of its processes): connections stay open and nothing answers,
    /// as with a server that hangs or a network that drops packets. ``resume()`` thaws it.
    package func pause() throws { try signalProcesses(SIGSTOP) }

    package func resume() throws { try signalProcesses(SIGCONT) }

    private func signalProcesses(_ signal: Int32) throws {
        guard let (folder, _, _) = cluster else { return }
        let pidFile = try String(
            contentsOf: folder.appendingPathComponent("data/postmaster.pid"), encoding: .utf8)
        let postmaster = try #require(pid_t(pidFile.split(separator: "\n").first ?? ""))
        var processes = [postmaster]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let end = stat.lastIndex(of: ")")
            else { continue }
            // After "pid (name) state ": the parent's pid.
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            if fields.count > 1, pid_t(fields[1]) == postmaster { processes.append(pid) }
        }
        for pid in processes { kill(pid, signal) }
    }

    /// Starts this server again, on the same port and data, and waits until it accepts connections.
    package func start() async throws {
        guard let (folder, port, user) = cluster else { return }
        try await Self.runAside(
            user + [
                Self.programs!.appendingPathComponent("pg_ctl").path, "start", "-w", "-s", "-D",
                folder.appendingPathComponent("data").path, "-l", folder.appendingPathComponent("server.log").path,
                "-o", "-p \(port) -k \(folder.path) -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400",
            ], in: folder)
    }

    /// ``run(_:in:)`` on a thread of its own: pg_ctl waits seconds for the server.
    private static func runAside(_ command: [String], in folder: URL) async throws {
        try await onThreadOfItsOwn { try run(command, in: folder) }
    }

    /// Runs `command` to its end in `folder` (``ChildProcess``), its output into a file, and throws with that output
    /// when it fails.
    private static func run(_ command: [String], in folder: URL) throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("pg-command-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: log) }
        let status = try ChildProcess(command, output: log.path, in: folder.path).waitUntilExit()
        guard status == 0 else {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            throw TestPostgresError(message: "\(command.joined(separator: " ")): status \(status): \(text)")
        }
    }
}

package struct TestPostgresError: Error, CustomStringConvertible {
    package let message: String
    package var description: String { message }
}

/// Runs `body` with a fresh, empty database of `kind`: an SQLite file's path, or a PostgreSQL database's URL
/// (dropped afterwards).
package func withTemporaryStore<T>(_ kind: StoreKind, _ body: (_ location: String) async throws -> T) async throws -> T
{
    switch kind {
    case .sqlite:
        return try await withTemporaryDatabase(body)
    case .postgres, .postgresReplica:
        let url = try await TestPostgres.shared.createDatabase(
            readYourWritesOn: kind == .postgresReplica ? TestPostgres.sharedStandby : nil)
        do {
            let result = try await body(url)
            try await TestPostgres.shared.dropDatabase(url)
            return result
        } catch {
            try? await TestPostgres.shared.dropDatabase(url)
            throw error
        }
    }
}

/// Runs `body` with a store on the database at `location` (``DatabaseLocation``), migrated, as the service opens it,
/// reading from `replicas` (PostgreSQL) the reads that may lag.
package func withStore<T: Sendable>(
    at location: String, replicas: [String] = [], _ body: @escaping @Sendable (any LedgerStore) async throws -> T
) async throws -> T {
    switch DatabaseLocation(location) {
    case .sqlite(let path):
        let pool = try LedgerDatabase.open(path: path)
        defer { try? LedgerDatabase.close(pool) }
        return try await body(try SQLiteLedgerStore(pool: pool))
    case .postgres(let url):
        try await PostgresDatabase.prepare(url: url, logger: PostgresDatabase.quiet)
        return try await PostgresDatabase.withClient(url: url) { client in
            guard !replicas.isEmpty else {
                return try await body(
                    PostgresLedgerStore(
                        client: client, logger: PostgresDatabase.quiet, operationTimeout: testDatabaseTimeout))
            }
            let set = try PostgresReplicas(urls: replicas, primary: client, logger: PostgresDatabase.quiet)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    try await set.run()
                    return nil
                }
                defer { group.cancelAll() }
                return try await body(
                    PostgresLedgerStore(
                        client: client, replicas: set, logger: PostgresDatabase.quiet,
                        operationTimeout: testDatabaseTimeout))
            }
        }
    }
}
