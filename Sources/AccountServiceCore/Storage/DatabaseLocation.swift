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
