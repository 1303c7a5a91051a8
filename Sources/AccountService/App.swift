import AccountServiceCore
import ArgumentParser
import Hummingbird
import Logging

/// `account-service`: serves the Account Management API over HTTP, on an SQLite database, until SIGINT or
/// SIGTERM; then it finishes the requests in flight and closes the database.
@main
struct AccountServiceCommand: AsyncParsableCommand, AppArguments {
    static let configuration = CommandConfiguration(
        commandName: "account-service",
        abstract: "Records money movements on accounts and answers balance questions, exactly.",
        discussion: "Without a subcommand it serves the API.",
        subcommands: [Check.self]
    )

    @Option(help: "The address to listen on.")
    var hostname = "127.0.0.1"

    @Option(help: "The port to listen on.")
    var port = 8080

    @Option(name: .customLong("database"), help: "The SQLite database file; created and migrated when missing.")
    var databasePath = "accounts.sqlite"

    @Option(help: "full: a 200 survives a power cut (the log is synced on every commit). normal: it survives a crash of the process, not of the machine.")
    var durability: Durability = .full

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: Logger.Level?

    func run() async throws {
        let app = try await buildApplication(self)
        try await app.runService()
    }
}

/// `account-service check`: verifies a database without changing it; exits 1 when anything disagrees.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Verify that every account's balance and transaction count equal the sum and count of its "
            + "transactions, and that SQLite's integrity check passes. Safe while the service runs.",
        usage: "account-service check [--database <database>]",
        discussion: "Exits 1 and names every account that differs. The database is the one --database names."
    )

    /// `--database` is the root command's option, so that it means the same file for serving and checking.
    @ParentCommand var service: AccountServiceCommand

    func run() throws {
        let report = try ConsistencyCheck.run(path: service.databasePath)
        for error in report.integrityErrors { print("integrity: \(error)") }
        for discrepancy in report.discrepancies { print("mismatch: \(discrepancy)") }
        let summary = "\(report.accounts) accounts, \(report.transactions) transactions"
        guard report.isConsistent else {
            print("INCONSISTENT: \(summary); \(report.discrepancies.count) accounts differ, "
                + "\(report.integrityErrors.count) integrity errors")
            throw ExitCode.failure
        }
        print("consistent: \(summary); every balance and count matches its transactions; integrity ok")
    }
}

extension Durability: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
