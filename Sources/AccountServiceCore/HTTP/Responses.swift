/// `{"transaction_id": "…", "account_id": "…", "amount": 7}`
struct TransactionResponse: JSONBody {
    let transaction: Transaction

    init(_ transaction: Transaction) {
        self.transaction = transaction
    }

    func write(to json: inout JSONWriter) {
        json.object { json in
            json.key("transaction_id")
            json.value(transaction.id)
            json.key("account_id")
            json.value(transaction.accountID)
            json.key("amount")
            json.value(transaction.amount)
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

    func write(to json: inout JSONWriter) {
        json.object { json in
            json.key("maxVolume")
            json.value(volume.maxVolume)
            json.key("accounts")
            json.array(volume.accounts) { json, account in json.value(account) }
        }
    }
}
