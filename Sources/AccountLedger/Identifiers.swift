import Foundation

/// A UUID that names one kind of thing. The kind keeps an account id from being passed as a transaction id.
public struct Identifier<Kind>: Hashable, Sendable, CustomStringConvertible {
    public let uuid: UUID

    public init(_ uuid: UUID) { self.uuid = uuid }

    /// The lower-case canonical form, as every response shows it.
    public var description: String { uuid.uuidString.lowercased() }
}

public enum AccountKind {}
public enum TransactionKind {}

/// Identifies an account. Accounts come into being with their first accepted transaction.
public typealias AccountID = Identifier<AccountKind>

/// Identifies a transaction. Chosen by the client (the `Transaction-Id` header), it is also the idempotency key.
public typealias TransactionID = Identifier<TransactionKind>
