import Foundation
import HummingbirdTesting
import TestSupport
import Testing

@testable import AccountLedger
@testable import PostgresStore

/// GET /metrics: the Prometheus text, parsed, changes as requests and commits happen.
@Suite(.timeLimit(.minutes(3))) struct MetricsTests {
    /// The samples of a scrape: `name{labels}` → value. Every line is a comment or a sample.
    func scrape(_ client: some TestClientProtocol) async throws -> [String: Double] {
        let response = try await client.get("/metrics")
        #expect(response.status == .ok)
        #expect(response.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
        var samples: [String: Double] = [:]
        for line in String(buffer: response.body).split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            let value = try #require(parts.count == 2 ? Double(parts[1]) : nil, "\(line)")
            samples[String(parts[0])] = value
        }
        return samples
    }

    @Test func requestsCommitsAndOutcomesAreCounted() async throws {
        try await withApp { client async throws in
            let before = try await scrape(client)
            #expect(before["ledger_commits_total"] == 0)
            #expect((before["process_resident_memory_bytes"] ?? 0) > 1_000_000)
            #expect((before["process_open_fds"] ?? 0) > 2)
            #expect((before[#"ledger_database_size_bytes{file="database"}"#] ?? 0) > 0)
            #expect((before[#"ledger_database_size_bytes{file="index"}"#] ?? 0) > 0)

            let account = newID()
            let id = newID()
            try await client.postAmount(transactionID: id, accountID: account, amount: .max)
            try await client.postAmount(transactionID: id, accountID: account, amount: .max)  // a replay
            try await client.postAmount(transactionID: id, accountID: account, amount: 1).problem(
                .unprocessableContent)
            try await client.refusedBatch([BatchItem(newID(), 1), BatchItem(account, 1)])  // out of range
            try await client.acceptedBatch([BatchItem(newID(), 1), BatchItem(newID(), 2)])
            _ = try await client.balance(account)

            let after = try await scrape(client)
            #expect(after[#"http_requests_total{route="/amount",method="POST",status="200"}"#] == 2)
            #expect(after[#"http_requests_total{route="/amount",method="POST",status="422"}"#] == 1)
            #expect(after[#"http_requests_total{route="/transactions",method="POST",status="422"}"#] == 1)
            #expect(after[#"http_requests_total{route="/balance/{account_id}",method="GET",status="200"}"#] == 1)
            #expect(after[#"http_request_duration_seconds_count{route="/amount",method="POST"}"#] == 3)
            #expect(after[#"ledger_postings_total{outcome="created"}"#] == 3)
            #expect(after[#"ledger_postings_total{outcome="replayed"}"#] == 1)
            #expect(after[#"ledger_postings_total{outcome="conflict"}"#] == 1)
            #expect(after[#"ledger_postings_total{outcome="out_of_range"}"#] == 1)
            #expect(after["ledger_commits_total"] == 5)
            #expect(after["ledger_postings_per_commit_count"] == 5)
            #expect(after["ledger_postings_per_commit_sum"].map { Int($0.rounded()) } == 1 + 1 + 1 + 2 + 2)
            #expect(after["ledger_commit_duration_seconds_count"] == 5)
            #expect(after["ledger_commit_failures_total"] == 0)
            // 3 created transactions, each waiting for both index tables (the backlog's limit is far above).
            #expect(after["ledger_index_backlog_entries"] == 6)
        }
    }
}
