import Foundation
import HTTPTypes
import HummingbirdTesting
import TestSupport
import Testing

@testable import AccountHTTP

/// The console's page and assets: served from the binary, with a policy that lets only them run, nothing fetched
/// from elsewhere, within 100 KB. (What it does in a browser: scripts/console-test, in headless Chromium.)
@Suite(.timeLimit(.minutes(3))) struct ConsoleTests {
    @Test func thePageAndItsAssetsAreServedWithAPolicyThatAllowsOnlyThem() async throws {
        try await withApp { client async throws in
            var total = 0
            for (path, type) in [
                ("/console", "text/html"), ("/console/console.css", "text/css"),
                ("/console/console.js", "text/javascript"),
            ] {
                let response = try await client.get(path)
                #expect(response.status == .ok, "\(path)")
                #expect(response.headers[.contentType]?.hasPrefix(type) == true, "\(path)")
                let policy = response.headers[.contentSecurityPolicy] ?? ""
                #expect(policy.contains("default-src 'none'") && policy.contains("script-src 'self'"), "\(policy)")
                #expect(!policy.contains("unsafe"), "\(policy)")
                #expect(response.headers[.xContentTypeOptions] == "nosniff")
                let text = String(buffer: response.body)
                total += response.body.readableBytes
                // Nothing from another origin: every script, style and request is the service's own.
                for outside in ["src=\"http", "href=\"http", "fetch(\"http", "//cdn", "import("] {
                    #expect(!text.contains(outside), "\(path) names \(outside)")
                }
                // Client-written text goes in as text nodes: no markup is ever built from strings.
                #expect(!text.contains("innerHTML") && !text.contains("insertAdjacentHTML"), "\(path)")
            }
            #expect(total <= 100_000, "the console weighs \(total) bytes")
            let page = String(buffer: try await client.get("/console").body)
            #expect(page.contains("src=\"/console/console.js\"") && page.contains("href=\"/console/console.css\""))
            try await client.executeRequest(uri: "/console", method: .post, headers: [:], body: nil)
                .problem(.methodNotAllowed)
        }
    }
}
