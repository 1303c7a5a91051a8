import AccountHTTP
import AccountLedger
import AccountServiceApp
import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresStore
import SQLiteStore

/// `account-service`: serves the Account Management API over HTTP, on an SQLite database, until SIGINT or
/// SIGTERM; then it finishes the requests in flight and closes the database.
@main
struct AccountServiceCommand: AsyncParsableCommand, AppArguments {
    static let configuration = CommandConfiguration(
        commandName: "account-service",
        abstract: "Records money movements on accounts and answers balance questions, exactly.",
        discussion: """
            Without a subcommand it serves the API. Every option can also be set in the environment: \
            ACCOUNT_SERVICE_ and the option's name in capitals with _ for - (--log-level: \
            ACCOUNT_SERVICE_LOG_LEVEL); a flag wins over the environment, the environment over the default.
            """,
        subcommands: [Check.self, BackupCommand.self, Keys.self]
    )

    /// The options that the environment may set too (``EnvironmentOptions``).
    static let environmentOptions = [
        "hostname", "port", "database", "durability", "log-level", "log-format", "idle-timeout", "max-connections",
        "max-waiting-reads", "api-keys", "index-backlog", "max-body-memory", "body-timeout", "database-timeout",
        "replica", "replica-max-lag",
    ]
    static let environmentFlags = ["allow-unauthenticated"]

    @Option(help: "The address to listen on. (ACCOUNT_SERVICE_HOSTNAME)")
    var hostname = "127.0.0.1"

    @Option(help: "The port to listen on (0: any free port). (ACCOUNT_SERVICE_PORT)")
    var port = 8080

    @Option(
        name: .customLong("database"),
        help: "The SQLite database file; created and migrated when missing. (ACCOUNT_SERVICE_DATABASE)")
    var database = "accounts.sqlite"

    @Option(
        help:
            "full: a 200 survives a power cut (the log is synced on every commit). normal: it survives a crash of the process, not of the machine. (ACCOUNT_SERVICE_DURABILITY)"
    )
    var durability: Durability = .full

    @Option(
        name: .customLong("index-backlog"),
        help:
            "SQLite: how many index entries may wait in memory (about 100 bytes each) before merges into the index file start (they run beside the commits); more makes merges larger and the restart's reading-back longer. (ACCOUNT_SERVICE_INDEX_BACKLOG)"
    )
    var indexBacklog = SQLiteLedgerStore.defaultBacklogLimit

    @Option(
        help:
            "trace, debug, info, notice, warning, error or critical (default notice: start, stop and problems; info adds a line per request). (ACCOUNT_SERVICE_LOG_LEVEL)"
    )
    var logLevel: Logger.Level?

    @Option(help: "text, or json: one JSON object a line, for log shippers. (ACCOUNT_SERVICE_LOG_FORMAT)")
    var logFormat: LogFormat = .text

    @Option(
        name: .customLong("idle-timeout"),
        help:
            "Seconds after which a connection that is idle, or stalls mid-request, is closed. (ACCOUNT_SERVICE_IDLE_TIMEOUT)"
    )
    var idleTimeoutSeconds = 30

    @Option(
        name: .customLong("max-connections"),
        help:
            "The most connections served at once; more wait to be accepted. Default 4096; never more than the descriptor limit (ulimit -n, its soft value raised to the hard one) less 64. (ACCOUNT_SERVICE_MAX_CONNECTIONS)"
    )
    var maximumConnections: Int?

    @Option(
        name: .customLong("max-waiting-reads"),
        help:
            "The most change-feed requests held at once (GET /transactions with wait); beyond that one is answered at once, as with wait=0. Default: a quarter of --max-connections. (ACCOUNT_SERVICE_MAX_WAITING_READS)"
    )
    var maximumWaitingReads: Int?

    var idleTimeout: Duration { .seconds(idleTimeoutSeconds) }

    @Option(
        name: .customLong("max-body-memory"),
        help:
            "MiB that the request bodies being read may take together; beyond it a request with a body is answered 503 with Retry-After. (ACCOUNT_SERVICE_MAX_BODY_MEMORY)"
    )
    var maximumBodyMemoryMiB = RequestBodies.defaultMemory >> 20

    @Option(
        name: .customLong("body-timeout"),
        help:
            "Seconds within which a request body must arrive whole, however steadily it trickles; then the connection is closed. (ACCOUNT_SERVICE_BODY_TIMEOUT)"
    )
    var bodyTimeoutSeconds = Int(ConnectionLimits.defaultBodyTimeout.components.seconds)

    var maximumBodyMemory: Int { maximumBodyMemoryMiB << 20 }
    var bodyTimeout: Duration { .seconds(bodyTimeoutSeconds) }

    @Option(
        name: .customLong("database-timeout"),
        help:
            "PostgreSQL: seconds a request waits for the database (queued commits included) before it is answered 503 with Retry-After. (ACCOUNT_SERVICE_DATABASE_TIMEOUT)"
    )
    var databaseTimeoutSeconds = Int(PostgresLedgerStore.defaultOperationTimeout.components.seconds)

    var databaseTimeout: Duration { .seconds(databaseTimeoutSeconds) }

    @Option(
        name: .customLong("replica"),
        help: ArgumentHelp(
            "PostgreSQL: a streaming standby's URL, for the reads that may lag a little (statements, the feed, GET /balance?at=, GET /accounts, the max volume); repeat it for more, or separate URLs by commas. A replica down or behind is skipped. (ACCOUNT_SERVICE_REPLICA)",
            valueName: "url"))
    var replicaOptions: [String] = []

    var replicas: [String] { replicaOptions.flatMap { $0.split(separator: ",").map(String.init) } }

    @Option(
        name: .customLong("replica-max-lag"),
        help:
            "PostgreSQL: seconds a replica may be behind the primary and still be read. (ACCOUNT_SERVICE_REPLICA_MAX_LAG)"
    )
    var replicaMaximumLagSeconds = Int(PostgresReplicas.defaultMaximumLag.components.seconds)

    var replicaMaximumLag: Duration { .seconds(replicaMaximumLagSeconds) }

    @Option(
        name: .customLong("api-keys"),
        help:
            "The access keys file (see `account-service keys`): every request but GET /ping and GET /ready then needs Authorization: Bearer <key>; re-read on SIGHUP. (ACCOUNT_SERVICE_API_KEYS)"
    )
    var apiKeysPath: String?

    @Flag(
        help:
            "Serve without access keys on an address other than loopback, which is refused otherwise. (ACCOUNT_SERVICE_ALLOW_UNAUTHENTICATED=true)"
    )
    var allowUnauthenticated = false

    func validate() throws {
        guard (0...65535).contains(port) else {
            throw ValidationError("--port \(port) is not a port number (0 to 65535).")
        }
        guard idleTimeoutSeconds > 0 else {
            throw ValidationError("--idle-timeout \(idleTimeoutSeconds) must be a positive number of seconds.")
        }
        guard maximumBodyMemoryMiB > 0, maximumBodyMemoryMiB <= 1 << 20 else {
            throw ValidationError("--max-body-memory \(maximumBodyMemoryMiB) must be 1 to 1048576 MiB.")
        }
        guard bodyTimeoutSeconds > 0 else {
            throw ValidationError("--body-timeout \(bodyTimeoutSeconds) must be a positive number of seconds.")
        }
        guard databaseTimeoutSeconds > 0 else {
            throw ValidationError("--database-timeout \(databaseTimeoutSeconds) must be a positive number of seconds.")
        }
        guard replicaMaximumLagSeconds > 0 else {
            throw ValidationError("--replica-max-lag \(replicaMaximumLagSeconds) must be a positive number of seconds.")
        }
        for replica in replicas {
            do {
                _ = try PostgresDatabase.configuration(url: replica)
            } catch {
                throw ValidationError("--replica: \(error)")
            }
        }
        guard indexBacklog >= 0 else {
            throw ValidationError("--index-backlog \(indexBacklog) must be 0 or more.")
        }
        if let maximumConnections, maximumConnections < 1 {
            throw ValidationError("--max-connections \(maximumConnections) must be at least 1.")
        }
        if let maximumWaitingReads, maximumWaitingReads < 0 {
            throw ValidationError("--max-waiting-reads \(maximumWaitingReads) must be 0 or more.")
        }
    }

    func run() async throws {
        let app = try await buildApplication(self)
        do {
            try await app.runService()
        } catch let error as IOError {
            throw ListenError(
                address: "\(hostname):\(port)",
                cause: error.errnoCode == EADDRINUSE ? "the address is already in use" : "\(error)")
        } catch let error as SocketAddressError.UnknownHost {
            throw ListenError(address: "\(hostname):\(port)", cause: "\(error)")
        }
    }

    /// Runs the command; every failure (a bad option, a database that cannot be opened, a port in use) is one
    /// line on standard error that names the thing and the cause, and a non-zero exit status.
    static func main() async {
        let given = Array(CommandLine.arguments.dropFirst())
        let arguments = EnvironmentOptions.arguments(
            given, environment: ProcessInfo.processInfo.environment, options: environmentOptions,
            flags: environmentFlags)
        do {
            var command = try await asyncParseAsRoot(arguments)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            let status = exitCode(for: error)
            // --help and the like print their text and succeed; ExitCode carries a status, already explained.
            if status == .success || error is ExitCode { exit(withError: error) }
            var line = oneLine(message(for: error))
            // A value the environment gave is named by its variable, which is what the operator set.
            for option in environmentOptions
            where line.contains("--\(option)") && arguments.contains(where: { $0.hasPrefix("--\(option)=") })
                && !given.contains(where: { $0 == "--\(option)" || $0.hasPrefix("--\(option)=") })
            {
                line += " (set by \(EnvironmentOptions.variable(for: option)))"
            }
            FileHandle.standardError.write(Data("account-service: \(line)\n".utf8))
            Foundation.exit(status.rawValue)
        }
    }
}

/// A message on one line: ArgumentParser lists the valid values of a long enumeration one per line
/// ("…one of the following:\n  - trace\n  - debug…"), which becomes "…one of the following: trace, debug…".
func oneLine(_ message: String) -> String {
    var text = ""
    var inList = false
    for line in message.split(separator: "\n").map({ $0.trimmingCharacters(in: .whitespaces) }) {
        if line.hasPrefix("- ") {
            text += (inList ? ", " : " ") + line.dropFirst(2)
            inList = true
        } else {
            text += text.isEmpty ? line : " " + line
            inList = false
        }
    }
    return text
}

/// The server could not listen on its address.
struct ListenError: Error, CustomStringConvertible {
    let address: String
    let cause: String
    var description: String { "cannot listen on \(address): \(cause)" }
}

/// `account-service check`: verifies a database without changing it; exits 1 when anything disagrees.
struct Check: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify that every account's balance and transaction count equal the sum and count of its "
            + "transactions, every balance_after its running sum, commit times never decrease, and SQLite's "
            + "integrity check passes. Safe while the service runs.",
        usage: "account-service check [--database <database>]",
        discussion: "Exits 1 and names every account that differs. The database is the one --database names."
    )

    /// `--database` is the root command's option, so that it means the same file for serving and checking.
    @ParentCommand var service: AccountServiceCommand

    func run() async throws {
        let report = try await ConsistencyCheck.run(database: service.database)
        for error in report.integrityErrors { print("integrity: \(error)") }
        for discrepancy in report.discrepancies { print("mismatch: \(discrepancy)") }
        for error in report.historyErrors.prefix(100) { print("history: \(error)") }
        for error in report.indexErrors { print("index: \(error)") }
        for error in report.accountErrors.prefix(100) { print("account: \(error)") }
        let summary = "\(report.accounts) accounts, \(report.transactions) transactions"
        guard report.isConsistent else {
            print(
                "INCONSISTENT: \(summary); \(report.discrepancies.count) accounts differ, "
                    + "\(report.historyErrors.count) history errors, \(report.integrityErrors.count) integrity errors, "
                    + "\(report.indexErrors.count) index errors, \(report.accountErrors.count) account errors")
            throw ExitCode.failure
        }
        print(
            "consistent: \(summary); every balance and count matches its transactions, every balance_after its "
                + "running sum, commit times never decrease, the indexes hold what they should; integrity ok")
    }
}

/// `account-service backup --to FILE`: a consistent copy of the database, safe while the service runs.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the database into a new file, consistently, while the service goes on writing.",
        usage: "account-service backup [--database <database>] --to <file>",
        discussion: "The copy holds whole commits only, as of one instant; `account-service check --database FILE` "
            + "verifies it. To restore, stop the service and start it on the copy (or move the copy into place)."
    )

    @ParentCommand var service: AccountServiceCommand

    @Option(help: "The new file to write; it must not exist.")
    var to: String

    func run() throws {
        guard case .sqlite(let path) = DatabaseLocation(service.database) else {
            throw ValidationError(
                "backup copies an SQLite file; back a PostgreSQL database up with pg_dump or a base backup "
                    + "(pg_basebackup), as the README's \"Backups\" says")
        }
        try Backup.run(path: path, to: to)
        print("backed up \(service.database) to \(to)")
    }
}

/// `account-service keys`: the access keys file.
struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add, list or remove access keys in a keys file (the service's --api-keys).",
        discussion: "The file holds each key's name, scope and SHA-256, never the key. After a change, send the "
            + "running service SIGHUP to apply it.",
        subcommands: [Add.self, List.self, Remove.self]
    )

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key; it is printed once, and only its hash is stored.")
        @Argument(help: "A name for the key (letters, digits, -_.).") var name: String
        @Option(help: "read: every GET. write: everything.") var scope: AccessScope
        @Option(help: "The keys file; created when missing.") var file: String

        func run() throws {
            print(try AccessKeyFile.add(name: name, scope: scope, path: file))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the keys' names and scopes.")
        @Option(help: "The keys file.") var file: String

        func run() throws {
            for key in try AccessKeyFile.read(path: file) { print("\(key.name) \(key.scope.rawValue)") }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a key; requests with it are refused.")
        @Argument(help: "The key's name.") var name: String
        @Option(help: "The keys file.") var file: String

        func run() throws {
            try AccessKeyFile.remove(name: name, path: file)
        }
    }
}

extension AccessScope: ExpressibleByArgument {}
extension Durability: ExpressibleByArgument {}
extension LogFormat: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
