/// A transaction record: `{"transaction_id": "…", "account_id": "…", "amount": 7, "sequence": 12,
/// "created_at": "2026-11-25T09:04:17.123Z", "balance_after": 19}`.
struct TransactionResponse: JSONBody {
    let entry: LedgerEntry

    init(_ entry: LedgerEntry) {
        self.entry = entry
    }

    func write(to json: inout JSONWriter) {
        json.object { json in Self.writeMembers(of: entry, to: &json) }
    }

    static func writeMembers(of entry: LedgerEntry, to json: inout JSONWriter) {
        json.key("transaction_id")
        json.value(entry.transaction.id)
        json.key("account_id")
        json.value(entry.transaction.accountID)
        json.key("amount")
        json.value(entry.transaction.amount)
        json.key("sequence")
        json.value(entry.sequence)
        json.key("created_at")
        json.value(entry.createdAt.rfc3339)
        json.key("balance_after")
        json.value(entry.balanceAfter)
    }
}

/// `{"balance": 10}`
struct BalanceResponse: JSONBody {
    let balance: Int64

    func write(to json: inout JSONWriter) {
        json.object { json in
            json.key("balance")
            json.value(balance)
        }
    }
}

/// `{"maxVolume": 4, "accounts": ["…", "…"]}`
struct TransactionVolumeResponse: JSONBody {
    let volume: TransactionVolume

    init(_ volume: TransactionVolume) {
        self.volume = volume
    }

    func write(to json: inout JSONWriter) {
        json.object { json in
            json.key("maxVolume")
            json.value(volume.maxVolume)
            json.key("accounts")
            json.array(volume.accounts) { json, account in json.value(account) }
        }
    }
}

/// A statement page: `{"transactions": [records, newest first], "next": "/accounts/…/transactions?…" or null}`.
struct StatementResponse: JSONBody {
    let entries: [LedgerEntry]
    let next: String?

    func write(to json: inout JSONWriter) {
        json.object { json in
            json.key("transactions")
            json.array(entries) { json, entry in
                json.object { json in TransactionResponse.writeMembers(of: entry, to: &json) }
            }
            json.key("next")
            if let next { json.value(next) } else { json.null() }
        }
    }
}

/// A change-feed page: `{"transactions": [records in sequence order], "next_after": S}`.
struct FeedResponse: JSONBody {
    let entries: [LedgerEntry]
    let nextAfter: Int64

    func write(to json: inout JSONWriter) {
        json.object { json in
            json.key("transactions")
            json.array(entries) { json, entry in
                json.object { json in TransactionResponse.writeMembers(of: entry, to: &json) }
            }
            json.key("next_after")
            json.value(nextAfter)
        }
    }
}
