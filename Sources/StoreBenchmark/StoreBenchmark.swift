import AccountLedger
import Foundation
import SQLiteStore

/// The store's own rate: batches posted straight to the ledger on a fresh SQLite database, with no HTTP, so
/// that `scripts/bench` can say what share of it POST /transactions keeps. The postings are the ones
/// `scripts/wrk/post_batch.lua` sends: new ids, amounts from -100 to 100, over 10,000 accounts.
///
///     swift run -c release store-benchmark [seconds] [batch size] [concurrent posters] [full|normal]
///
/// It prints one line: `postings/s: N`.
@main struct StoreBenchmark {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        let seconds = arguments.first.flatMap(Double.init) ?? 10
        let size = arguments.dropFirst().first.flatMap(Int.init) ?? 1000
        let posters = arguments.dropFirst(2).first.flatMap(Int.init) ?? 4
        let durability = arguments.dropFirst(3).first.flatMap(Durability.init) ?? .full

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("store-benchmark-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let pool = try LedgerDatabase.open(
            path: directory.appendingPathComponent("accounts.sqlite").path, durability: durability)
        let store = try SQLiteLedgerStore(pool: pool)
        let ledger = Ledger(store: store)
        let accounts = (0..<10_000).map { _ in AccountID(UUID()) }

        let started = ContinuousClock.now
        let deadline = started + .seconds(seconds)
        let posted = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                await ledger.run()
                return 0
            }
            // The store's merges run beside the commits, as in the service.
            group.addTask {
                try await store.run()
                return 0
            }
            let posting = Task {
                try await withThrowingTaskGroup(of: Int.self) { tasks in
                    for poster in 0..<posters {
                        tasks.addTask {
                            var count = 0
                            var counter = poster
                            // New ids from a random prefix and a counter, as post_batch.lua makes them: UUID()
                            // reads the system's random source for each one, which would cost more than a posting.
                            let prefix = UUID().uuid
                            while ContinuousClock.now < deadline {
                                let batch = Batch(
                                    (0..<size).map { _ in
                                        counter += posters
                                        return Transaction(
                                            id: TransactionID(Self.uuid(prefix, counter)),
                                            accountID: accounts[(counter * 7919) % accounts.count],
                                            amount: Int64(counter % 201 - 100))
                                    })
                                count += try await ledger.post(batch).count
                            }
                            return count
                        }
                    }
                    var total = 0
                    for try await count in tasks { total += count }
                    return total
                }
            }
            let count = try await posting.value
            group.cancelAll()
            return count
        }
        let elapsed = ContinuousClock.now - started
        let rate = Double(posted) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        print("postings/s: \(Int(rate))")
        try await store.close()
    }

    /// `prefix` with its last eight bytes replaced by `counter`.
    static func uuid(_ prefix: uuid_t, _ counter: Int) -> UUID {
        var bytes = prefix
        withUnsafeMutableBytes(of: &bytes) { out in
            withUnsafeBytes(of: UInt64(counter).bigEndian) {
                out.baseAddress!.advanced(by: 8).copyMemory(from: $0.baseAddress!, byteCount: 8)
            }
        }
        return UUID(uuid: bytes)
    }
}
