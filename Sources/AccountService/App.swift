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
        abstract: "Records money movements on accounts and answers balance questions, exactly."
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

extension Durability: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
