import AccountLedger
import PostgresStore
import SQLiteStore

/// Where the ledger is kept, as `--database` gives it: a `postgres://` or `postgresql://` URL names a PostgreSQL
/// database; anything else is the path of an SQLite file.
public enum DatabaseLocation: Sendable, Equatable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(url: String)

    public init(_ text: String) {
        let lowercased = text.lowercased()
        if lowercased.hasPrefix("postgres://") || lowercased.hasPrefix("postgresql://") {
            self = .postgres(url: text)
        } else {
            self = .sqlite(path: text)
        }
    }

    /// The path or URL, without a password.
    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgres(let url): PostgresDatabase.redacted(url)
        }
    }
}

extension ConsistencyCheck {
    /// Checks the database `--database` names: an SQLite file or a PostgreSQL URL (``DatabaseLocation``).
    public static func run(database: String) async throws -> Report {
        switch DatabaseLocation(database) {
        case .sqlite(let path): try run(path: path)
        case .postgres(let url): try await run(postgresURL: url)
        }
    }
}
