import HTTPTypes
import Hummingbird
import NIOCore

/// A JSON response body written directly as text. Every value these bodies hold is a canonical UUID or an
/// integer, neither of which ever needs escaping, so the bytes are exact without a general encoder.
protocol JSONResponse: ResponseGenerator {
    var json: String { get }
}

extension JSONResponse {
    func response(from request: Request, context: some RequestContext) -> Response {
        let buffer = ByteBuffer(string: json)
        var headers = HTTPFields()
        headers.reserveCapacity(4)
        headers[.contentType] = "application/json"
        headers[.contentLength] = String(buffer.readableBytes)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: buffer))
    }
}

/// `{"transaction_id": "…", "account_id": "…", "amount": 7}`
struct TransactionResponse: JSONResponse {
    let transaction: Transaction

    var json: String {
        #"{"transaction_id":"\#(transaction.id)","account_id":"\#(transaction.accountID)","amount":\#(transaction.amount)}"#
    }
}

/// `{"balance": 10}`
struct BalanceResponse: JSONResponse {
    let balance: Int64

    var json: String { #"{"balance":\#(balance)}"# }
}

/// `{"maxVolume": 4, "accounts": ["…", "…"]}`
struct TransactionVolumeResponse: JSONResponse {
    let volume: TransactionVolume

    var json: String {
        let accounts = volume.accounts.map { #""\#($0)""# }.joined(separator: ",")
        return #"{"maxVolume":\#(volume.maxVolume),"accounts":[\#(accounts)]}"#
    }
}
