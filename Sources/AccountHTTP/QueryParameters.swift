import AccountLedger
import Hummingbird

extension Request {
    /// A query parameter's value; nil when absent, 400 when given more than once.
    func queryParameter(_ name: String) throws -> Substring? {
        let values = uri.queryParameters[values: name[...]]
        guard values.count <= 1 else {
            throw Problem.badRequest("The query parameter \(name) is given more than once.")
        }
        return values.first
    }

    /// `limit` of a statement or feed page: 1 to 1,000 transactions, 100 when absent.
    func pageSize() throws -> Int {
        Int(try integerQueryParameter("limit", in: 1...1000) ?? 100)
    }

    /// An integer query parameter (decimal digits only) within `range`; nil when absent, 400 naming it otherwise.
    func integerQueryParameter(_ name: String, in range: ClosedRange<Int64>) throws -> Int64? {
        guard let text = try queryParameter(name) else { return nil }
        guard !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let value = Int64(text), range.contains(value)
        else {
            throw Problem.badRequest(
                "\(name) \(Problem.quoted(text)) must be an integer from \(range.lowerBound) to \(range.upperBound).")
        }
        return value
    }
}
