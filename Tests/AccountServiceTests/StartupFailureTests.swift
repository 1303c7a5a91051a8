import Foundation
import GRDB
import TestSupport
import Testing

@testable import AccountLedger
@testable import PostgresStore
@testable import SQLiteStore

#if canImport(Glibc)
import Glibc
#endif

/// Every way the service can fail to start prints one line on standard error that names the thing and the
/// cause, and exits non-zero, without a stack trace. These run the executable that `swift test` builds beside
/// the test bundle.
@Suite(.timeLimit(.minutes(3))) struct StartupFailureTests {
    struct Outcome {
        let status: Int32
        let errorLines: [String]
    }

    /// Runs the executable with `arguments` (as `user`, when given, through runuser) and waits at most 20 s.
    func run(
        _ arguments: [String], as user: String? = nil, environment: [String: String] = [:]
    ) async throws -> Outcome {
        let environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        guard let user else {
            return try await wait(for: [try ServiceExecutable.url.path] + arguments, environment: environment, in: nil)
        }
        // Another user may not be able to reach this build's folder (a checkout in a 0700 folder such as /root),
        // so that user runs a copy placed in a folder of its own that everyone may enter.
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("account-service-binary-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(at: folder) }
        let copy = folder.appendingPathComponent("account-service").path
        // Copied by another process: a copy written here holds a descriptor open for writing that a child spawned
        // meanwhile by another test inherits, and executing the copy then fails ("Text file busy").
        let install = try ChildProcess(["/usr/bin/install", "-m", "0755", try ServiceExecutable.url.path, copy])
        try #require(install.waitUntilExit() == 0, "cannot copy the executable to \(copy)")
        return try await wait(
            for: ["/usr/sbin/runuser", "-u", user, "--", copy] + arguments, environment: environment, in: folder.path)
    }

    /// Runs `command` and waits for it at most 20 s; returns its exit status and the lines of its standard error.
    private func wait(for command: [String], environment: [String: String], in folder: String?) async throws -> Outcome
    {
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("stderr-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: errors) }
        let process = try ChildProcess(command, environment: environment, errors: errors.path, in: folder)
        var status = try await process.wait(upTo: .seconds(20))
        if status == nil {
            process.terminate()
            Issue.record("\(command) was still running after 20 s")
            status = process.waitUntilExit()
        }
        let text = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        return Outcome(status: status ?? -1, errorLines: text.split(separator: "\n").map(String.init))
    }

    func expectOneLineFailure(
        _ outcome: Outcome, mentioning words: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(outcome.status != 0, sourceLocation: sourceLocation)
        #expect(outcome.errorLines.count == 1, "\(outcome.errorLines)", sourceLocation: sourceLocation)
        let line = outcome.errorLines.first ?? ""
        #expect(line.hasPrefix("account-service: "), "\(line)", sourceLocation: sourceLocation)
        for word in words {
            #expect(line.contains(word), "\(line) should mention \(word)", sourceLocation: sourceLocation)
        }
        for trace in ["Fatal error", "Stack", "0x0"] {
            #expect(!line.contains(trace), sourceLocation: sourceLocation)
        }
    }

    @Test func aDatabaseFolderThatDoesNotExist() async throws {
        try await withTemporaryDatabase { path in
            let missing = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("missing").path
            let outcome = try await run(["--port", "0", "--database", missing + "/accounts.sqlite"])
            expectOneLineFailure(outcome, mentioning: [missing, "does not exist"])
        }
    }

    @Test func aDatabaseFolderThatIsNotWritable() async throws {
        try await withTemporaryDatabase { path in
            let folder = URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("read-only")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
            try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: folder.path)
            // Root may write anywhere, so as root the service is run as nobody.
            let user = getuid() == 0 ? "nobody" : nil
            if user != nil {
                try FileManager.default.setAttributes(
                    [.posixPermissions: 0o755], ofItemAtPath: folder.deletingLastPathComponent().path)
            }
            let outcome = try await run(["--port", "0", "--database", folder.path + "/accounts.sqlite"], as: user)
            expectOneLineFailure(outcome, mentioning: [folder.path, "not writable"])
        }
    }

    /// A disk too full for SQLite's files says so, naming the folder (not "disk I/O error (4874)"). A full
    /// file system needs a mount, so the error SQLite gives on one is made here.
    @Test func aFullDiskIsNamed() throws {
        let folder = FileManager.default.temporaryDirectory.path
        let path = folder + "/accounts.sqlite"
        for error in [DatabaseError(resultCode: .SQLITE_FULL, message: "database or disk is full")] {
            let line = "\(LedgerDatabase.OpenError(path: path, error))"
            #expect(line.contains("the disk holding \(folder) is full"), "\(line)")
            #expect(line.contains("bytes free"), "\(line)")
        }
        // An I/O error on a disk with room is not called a full disk.
        let io = "\(LedgerDatabase.OpenError(path: path, DatabaseError(resultCode: .SQLITE_IOERR)))"
        #expect(!io.contains("full"), "\(io)")
    }

    /// A missing PostgreSQL database is named, at start and by `check`, in seconds (the pool would retry for a
    /// minute, then say "connectionCreationCircuitBreakerTripped").
    @Test(.enabled(if: TestPostgres.isAvailable)) func aMissingPostgreSQLDatabaseIsNamed() async throws {
        let existing = try await TestPostgres.shared.createDatabase()
        var missing = try #require(URLComponents(string: existing))
        missing.path = "/no_such_database"
        let url = try #require(missing.string)
        let started = ContinuousClock.now
        let start = try await run(["--port", "0", "--database", url])
        expectOneLineFailure(start, mentioning: ["no_such_database", "does not exist"])
        let check = try await run(["check", "--database", url])
        expectOneLineFailure(check, mentioning: ["no_such_database", "does not exist"])
        #expect(ContinuousClock.now - started < .seconds(20))
        try await TestPostgres.shared.dropDatabase(existing)
    }

    /// The ledger's files are its owner's alone (0600), whatever the umask: the database, its log and shared
    /// memory, the index file, and a backup.
    @Test func theLedgersFilesAreCreatedForTheirOwnerAlone() async throws {
        try await withLedger { ledger, path async throws in
            _ = try await ledger.post(Transaction(id: TransactionID(UUID()), accountID: AccountID(UUID()), amount: 5))
            let copy = path + ".copy"
            try Backup.run(path: path, to: copy)
            for file in [path, path + "-wal", path + "-shm", path + "-index", path + "-index-wal", copy] {
                let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
                #expect(mode == 0o600, "\(file): \(String(mode ?? 0, radix: 8))")
            }
        }
    }

    @Test func aFileThatIsNotADatabase() async throws {
        try await withTemporaryDatabase { path in
            try Data("these are not the pages of an SQLite database\n".utf8).write(to: URL(fileURLWithPath: path))
            let outcome = try await run(["--port", "0", "--database", path])
            expectOneLineFailure(outcome, mentioning: [path, "not an SQLite database"])
        }
    }

    @Test func aPortInUse() async throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(listener, address, length) == 0 && listen(listener, 1) == 0
                    && getsockname(listener, address, &length) == 0
            }
        }
        try #require(bound)
        let port = String(UInt16(bigEndian: address.sin_port))
        try await withTemporaryDatabase { path in
            let outcome = try await run(["--port", port, "--database", path])
            expectOneLineFailure(outcome, mentioning: ["127.0.0.1:\(port)", "already in use"])
        }
    }

    @Test(arguments: [
        (["--port", "abc"], ["--port", "abc"]),
        (["--port", "70000"], ["--port", "70000"]),
        (["--durability", "fast"], ["--durability", "fast"]),
        (["--log-level", "loud"], ["--log-level", "loud"]),
        (["--database-timeout", "0"], ["--database-timeout", "0"]),
        (["--replica-max-lag", "0"], ["--replica-max-lag", "0"]),
        (["--replica", "mysql://127.0.0.1/ledger"], ["--replica", "mysql://127.0.0.1/ledger"]),
        (["--replica", "postgres://127.0.0.1/ledger"], ["--replica", "SQLite"]),
        (["--no-such-option"], ["--no-such-option"]),
    ])
    func anInvalidOption(_ arguments: [String], _ words: [String]) async throws {
        try await withTemporaryDatabase { path in
            let outcome = try await run(arguments + ["--database", path])
            expectOneLineFailure(outcome, mentioning: words)
            #expect(!FileManager.default.fileExists(atPath: path), "an invalid option must not create the database")
        }
    }

    /// The command line as the README gives it: a backup of a stopped service's database, then check on it.
    @Test func backupThenCheckFromTheCommandLine() async throws {
        try await withLedger { ledger, path async throws in
            _ = try await ledger.post(Transaction(id: TransactionID(UUID()), accountID: AccountID(UUID()), amount: 5))
            let copy = path + ".copy"
            let backup = try await run(["backup", "--database", path, "--to", copy])
            #expect(backup.status == 0, "\(backup.errorLines)")
            let check = try await run(["check", "--database", copy])
            #expect(check.status == 0, "\(check.errorLines)")
            let again = try await run(["backup", "--database", path, "--to", copy])
            expectOneLineFailure(again, mentioning: [copy, "already exists"])
        }
    }

    /// Options from the environment, and a flag over the environment.
    @Test func optionsComeFromTheEnvironmentAndFlagsWin() async throws {
        try await withLedger { ledger, path async throws in
            _ = try await ledger.post(Transaction(id: TransactionID(UUID()), accountID: AccountID(UUID()), amount: 5))
            let copy = path + ".copy"
            let fromEnvironment = try await run(
                ["backup", "--to", copy], environment: ["ACCOUNT_SERVICE_DATABASE": path])
            #expect(fromEnvironment.status == 0, "\(fromEnvironment.errorLines)")
            #expect(FileManager.default.fileExists(atPath: copy))
            let flagWins = try await run(
                ["backup", "--database", path, "--to", copy + "2"],
                environment: ["ACCOUNT_SERVICE_DATABASE": path + ".missing"])
            #expect(flagWins.status == 0, "\(flagWins.errorLines)")
            let invalid = try await run(["--database", path], environment: ["ACCOUNT_SERVICE_PORT": "eighty"])
            expectOneLineFailure(invalid, mentioning: ["eighty", "ACCOUNT_SERVICE_PORT"])
            // A list of replicas, separated by commas: each URL is checked.
            let replicas = try await run(
                ["--database", path],
                environment: ["ACCOUNT_SERVICE_REPLICA": "postgres://127.0.0.1/ledger,mysql://127.0.0.1/ledger"])
            expectOneLineFailure(replicas, mentioning: ["mysql://127.0.0.1/ledger", "ACCOUNT_SERVICE_REPLICA"])
        }
    }
}
