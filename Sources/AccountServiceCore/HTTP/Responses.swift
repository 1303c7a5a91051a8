import Hummingbird

/// `{"transaction_id": "…", "account_id": "…", "amount": 7}`
struct TransactionResponse: ResponseEncodable {
    let transactionID: TransactionID
    let accountID: AccountID
    let amount: Int64

    init(_ transaction: Transaction) {
        transactionID = transaction.id
        accountID = transaction.accountID
        amount = transaction.amount
    }

    enum CodingKeys: String, CodingKey {
        case transactionID = "transaction_id"
        case accountID = "account_id"
        case amount
    }
}

/// `{"balance": 10}`
struct BalanceResponse: ResponseEncodable {
    let balance: Int64
}

/// `{"maxVolume": 4, "accounts": ["…", "…"]}`
struct TransactionVolumeResponse: ResponseEncodable {
    let maxVolume: Int64
    let accounts: [AccountID]

    init(_ volume: TransactionVolume) {
        maxVolume = volume.maxVolume
        accounts = volume.accounts
    }
}
