import AccountLedger

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

    /// `"transactions": [records]`, the list a statement or feed page holds.
    static func writeRecords(_ entries: [LedgerEntry], to json: inout JSONWriter) {
        json.key("transactions")
        json.array(entries) { json, entry in json.object { json in writeMembers(of: entry, to: &json) } }
    }

    /// The members, written in one reservation: a statement or feed page writes up to a thousand of these.
    static func writeMembers(of entry: LedgerEntry, to json: inout JSONWriter) {
        json.raw(reserving: 320) { out in
            out.put(#""transaction_id":""#)
            out.put(entry.transaction.id.uuid)
            out.put(#"","account_id":""#)
            out.put(entry.transaction.accountID.uuid)
            out.put(#"","amount":"#)
            out.put(entry.transaction.amount)
            out.put(#","sequence":"#)
            out.put(entry.sequence)
            out.put(#","created_at":""#)
            out.put(entry.createdAt)
            out.put(#"","balance_after":"#)
            out.put(entry.balanceAfter)
        }
    }
}

/// A batch's answer: `{"transactions": [records in request order, each with "replayed": true or false]}`.
struct BatchResponse: JSONBody {
    let outcomes: [PostingOutcome]

    var estimatedSize: Int { 32 + 260 * outcomes.count }

    func write(to json: inout JSONWriter) {
        json.object { json in
            json.key("transactions")
            json.array(outcomes) { json, outcome in
                json.object { json in
                    TransactionResponse.writeMembers(of: outcome.entry, to: &json)
                    // A member after the record's, so the writer puts the comma in front.
                    json.raw(reserving: 20) { out in
                        if case .replayed = outcome {
                            out.put(#""replayed":true"#)
                        } else {
                            out.put(#""replayed":false"#)
                        }
                    }
                }
            }
        }
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

    var estimatedSize: Int { 48 + 39 * volume.accounts.count }

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

    var estimatedSize: Int { 256 + 240 * entries.count }

    func write(to json: inout JSONWriter) {
        json.object { json in
            TransactionResponse.writeRecords(entries, to: &json)
            json.key("next")
            if let next { json.value(next) } else { json.null() }
        }
    }
}

/// A change-feed page: `{"transactions": [records in sequence order], "next_after": S}`.
struct FeedResponse: JSONBody {
    let entries: [LedgerEntry]
    let nextAfter: Int64

    var estimatedSize: Int { 64 + 240 * entries.count }

    func write(to json: inout JSONWriter) {
        json.object { json in
            TransactionResponse.writeRecords(entries, to: &json)
            json.key("next_after")
            json.value(nextAfter)
        }
    }
}
