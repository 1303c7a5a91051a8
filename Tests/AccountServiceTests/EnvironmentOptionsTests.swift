import TestSupport
import Testing

@testable import AccountLedger
@testable import AccountServiceApp
@testable import PostgresStore

@Suite struct EnvironmentOptionsTests {
    @Test func aFlagWinsOverTheEnvironmentWhichWinsOverTheDefault() {
        let environment = [
            "ACCOUNT_SERVICE_PORT": "9000", "ACCOUNT_SERVICE_LOG_LEVEL": "debug", "ACCOUNT_SERVICE_VERBOSE": "true",
            "ACCOUNT_SERVICE_QUIET": "0", "OTHER_PORT": "1",
        ]
        let options = ["hostname", "port", "log-level"]
        #expect(
            EnvironmentOptions.arguments(
                ["--port", "8081"], environment: environment, options: options, flags: ["verbose", "quiet"])
                == ["--port", "8081", "--log-level=debug", "--verbose"])
        #expect(
            EnvironmentOptions.arguments(["check", "--port=1"], environment: environment, options: options)
                == ["check", "--port=1", "--log-level=debug"])
        #expect(EnvironmentOptions.arguments([], environment: [:], options: options) == [])
        #expect(EnvironmentOptions.variable(for: "log-level") == "ACCOUNT_SERVICE_LOG_LEVEL")
    }
}
