import Synchronization
import TestSupport
import Testing

@testable import AccountLedger
@testable import PostgresStore

/// Lookups that arrive together share queries, and each is still answered exactly as alone: its own key's value,
/// from a query that started after it arrived, or the query's error.
@Suite(.timeLimit(.minutes(3)))
struct ReadBatcherTests {
    /// What the fake database saw: queries under way at most, and how many were made.
    struct Queries {
        var underWay = 0
        var most = 0
        var made = 0
    }

    @Test func concurrentLookupsShareQueriesAndEachGetsItsOwnValue() async throws {
        let queries = Mutex(Queries())
        let batcher = ReadBatcher<Int, Int>(concurrency: 2) { keys in
            queries.withLock { queries in
                queries.underWay += 1
                queries.made += 1
                queries.most = max(queries.most, queries.underWay)
            }
            try await Task.sleep(for: .milliseconds(5))
            queries.withLock { $0.underWay -= 1 }
            // Even keys have a value, odd ones none.
            return Dictionary(uniqueKeysWithValues: keys.filter { $0 % 2 == 0 }.map { ($0, $0 * 10) })
        }
        let lookups = 400
        try await withThrowingTaskGroup(of: (Int, Int?).self) { group in
            for key in 0..<lookups {
                group.addTask { (key, try await batcher.value(of: key % 150)) }
            }
            for try await (key, value) in group {
                #expect(value == (key % 2 == 0 ? (key % 150) * 10 : nil))
            }
        }
        let seen = queries.withLock { $0 }
        #expect(seen.most <= 2)
        #expect(seen.made < lookups / 4, "\(seen.made) queries for \(lookups) lookups")
        // A lone lookup afterwards is sent at once, alone.
        #expect(try await batcher.value(of: 4) == 40)
        #expect(queries.withLock { $0.made } == seen.made + 1)
    }

    /// Each lookup notes the number of lookups begun before it; each query answers with that number as it
    /// starts. A lookup answered by a query that started before it arrived would get a smaller number.
    @Test func aLookupIsAnsweredByAQueryThatStartedAfterItArrived() async throws {
        let begun = Begun()
        let batcher = ReadBatcher<Int, Int>(concurrency: 2) { keys in
            let atStart = begun.count.withLock { $0 }
            try await Task.sleep(for: .milliseconds(2))
            return Dictionary(uniqueKeysWithValues: keys.map { ($0, atStart) })
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for key in 0..<300 {
                group.addTask {
                    let noted = begun.count.withLock { count in
                        count += 1
                        return count
                    }
                    let answer = try #require(try await batcher.value(of: key))
                    #expect(answer >= noted)
                }
            }
            try await group.waitForAll()
        }
    }

    final class Begun: Sendable {
        let count = Mutex(0)
    }

    struct DatabaseDownError: Error {}

    @Test func everyLookupOfAFailedQueryGetsItsError() async throws {
        let batcher = ReadBatcher<Int, Int>(concurrency: 1) { _ in
            try await Task.sleep(for: .milliseconds(2))
            throw DatabaseDownError()
        }
        await withTaskGroup(of: Bool.self) { group in
            for key in 0..<100 {
                group.addTask {
                    do {
                        _ = try await batcher.value(of: key)
                        return false
                    } catch {
                        return error is DatabaseDownError
                    }
                }
            }
            for await failed in group { #expect(failed) }
        }
    }
}
