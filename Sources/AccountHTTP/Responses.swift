import AccountLedger

/// A transaction record: `{"transaction_id": "…", "account_id": "…", "amount": 7, "sequence": 12,
/// "created_at": "2026-11-25T09:04:17.123Z", "balance_after": 19, "status": "posted", "metadata": {}}`; a hold's
/// also has `expires_at` (null: never), a post's or void's `pending_id`, an expiry's void `"reason": "expired"`,
/// and GET /transaction of a hold `hold_state`.
struct TransactionResponse: JSONBody {
    let entry: LedgerEntry
    let holdState: HoldState?

    init(_ entry: LedgerEntry, holdState: HoldState? = nil) {
        self.entry = entry
        self.holdState = holdState
    }

    func write(to json: inout JSONWriter) {
        json.object { json in
            Self.writeMembers(of: entry, to: &json)
            if let holdState {
                json.key("hold_state")
                json.raw(reserving: 12) { out in
                    switch holdState {
                    case .pending: out.put(#""pending""#)
                    case .posted: out.put(#""posted""#)
                    case .voided: out.put(#""voided""#)
                    case .expired: out.put(#""expired""#)
                    }
                }
            }
        }
    }

    /// `"transactions": [records]`, the list a statement or feed page holds.
    static func writeRecords(_ entries: [LedgerEntry], to json: inout JSONWriter) {
        json.key("transactions")
        json.array(entries) { json, entry in json.object { json in writeMembers(of: entry, to: &json) } }
    }

    /// The members, written in one reservation: a statement or feed page writes up to a thousand of these.
    static func writeMembers(of entry: LedgerEntry, to json: inout JSONWriter) {
        json.raw(reserving: 440) { out in
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
            switch entry.transaction.role {
            case .posting:
                out.put(#","status":"posted""#)
            case .hold(let expiresAt):
                out.put(#","status":"pending","expires_at":"#)
                if let expiresAt {
                    out.put(UInt8(ascii: "\""))
                    out.put(expiresAt)
                    out.put(UInt8(ascii: "\""))
                } else {
                    out.put("null")
                }
            case .post(let hold):
                out.put(#","status":"posted","pending_id":""#)
                out.put(hold.uuid)
                out.put(UInt8(ascii: "\""))
            case .void(let hold, let expired):
                out.put(#","status":"voided","pending_id":""#)
                out.put(hold.uuid)
                out.put(expired ? #"","reason":"expired""# : #"""#)
            }
            if entry.transaction.metadata.isEmpty { out.put(#","metadata":{}"#) }
        }
        if !entry.transaction.metadata.isEmpty {
            json.key("metadata")
            json.value(entry.transaction.metadata)
        }
    }
}

/// The account document: `{"account_id": "…", "currency": "USD", "minimum_balance": 0, "maximum_balance": null,
/// "metadata": {…}, "balance": 120, "pending_debits": -20, "pending_credits": 0, "available_balance": 100,
/// "transaction_count": 12, "created_at": "…"}`.
struct AccountResponse: JSONBody {
    let account: Account

    func write(to json: inout JSONWriter) {
        json.object { json in Self.writeMembers(of: account, to: &json) }
    }

    /// The members, in two reservations around the metadata: a page of accounts writes up to a thousand.
    static func writeMembers(of account: Account, to json: inout JSONWriter) {
        let (state, rules) = (account.state, account.state.rules)
        json.raw(reserving: 160) { out in
            out.put(#""account_id":""#)
            out.put(account.id.uuid)
            out.put(#"","currency":"#)
            if let currency = rules.currency {
                // A currency code is A-Z, 0-9 and _: nothing to escape.
                out.put(UInt8(ascii: "\""))
                for byte in currency.utf8.prefix(16) { out.put(byte) }
                out.put(UInt8(ascii: "\""))
            } else {
                out.put("null")
            }
            out.put(#","minimum_balance":"#)
            if let minimum = rules.minimumBalance { out.put(minimum) } else { out.put("null") }
            out.put(#","maximum_balance":"#)
            if let maximum = rules.maximumBalance { out.put(maximum) } else { out.put("null") }
        }
        json.key("metadata")
        json.value(account.metadata)
        json.raw(reserving: 220) { out in
            out.put(#""balance":"#)
            out.put(state.balance)
            out.put(#","pending_debits":"#)
            out.put(state.pendingDebits)
            out.put(#","pending_credits":"#)
            out.put(state.pendingCredits)
            out.put(#","available_balance":"#)
            if let available = Int64(exactly: account.availableBalance) {
                out.put(available)
            } else {
                for byte in String(account.availableBalance).utf8 { out.put(byte) }
            }
            out.put(#","transaction_count":"#)
            out.put(account.transactionCount)
            out.put(#","created_at":""#)
            out.put(account.createdAt)
            out.put(UInt8(ascii: "\""))
        }
    }
}

/// A page of accounts: `{"accounts": [documents], "next": "/accounts?…" or null}`.
struct AccountListResponse: JSONBody {
    let accounts: [Account]
    let next: String?

    var estimatedSize: Int { 64 + 400 * accounts.count }

    func write(to json: inout JSONWriter) {
        json.object { json in
            json.key("accounts")
            json.array(accounts) { json, account in json.object { AccountResponse.writeMembers(of: account, to: &$0) } }
            json.key("next")
            if let next { json.value(next) } else { json.null() }
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
