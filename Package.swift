// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "account-service",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "account-service", targets: ["AccountService"]),
        .executable(name: "store-benchmark", targets: ["StoreBenchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // The ledger: its types, its rules, the `LedgerStore` protocol its stores implement, and the writer loop that
        // groups postings into commits. It knows no database and no HTTP.
        .target(
            name: "AccountLedger",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The embedded store: one SQLite file (and its index file), on GRDB.
        .target(
            name: "SQLiteStore",
            dependencies: [
                .byName(name: "AccountLedger"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The store for many instances: one PostgreSQL database, on postgres-nio.
        .target(
            name: "PostgresStore",
            dependencies: [
                .byName(name: "AccountLedger"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP API on Hummingbird: routes, request reading, JSON writing, problems, access keys, metrics and
        // request logs. It serves any ledger and knows no store.
        .target(
            name: "AccountHTTP",
            dependencies: [
                .byName(name: "AccountLedger"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // Compiled into the binary (PackageResources.openapi_yaml, …), so the served document and the console
            // are always the ones the binary was built with, and no resource bundle has to travel with it.
            resources: [
                .embedInCode("openapi.yaml"), .embedInCode("Console/console.html"),
                .embedInCode("Console/console.css"), .embedInCode("Console/console.js"),
            ],
            swiftSettings: swiftSettings
        ),
        // The wiring: `buildApplication` opens the store that `--database` names, puts the ledger on it and the
        // HTTP API on that; the executable and the tests share it. Also the log lines' format.
        .target(
            name: "AccountServiceApp",
            dependencies: [
                .byName(name: "AccountLedger"),
                .byName(name: "SQLiteStore"),
                .byName(name: "PostgresStore"),
                .byName(name: "AccountHTTP"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // `account-service`: the command line (serve, check, backup, keys).
        .executableTarget(
            name: "AccountService",
            dependencies: [
                .byName(name: "AccountServiceApp"),
                .byName(name: "AccountLedger"),
                .byName(name: "AccountHTTP"),
                .byName(name: "SQLiteStore"),
                .byName(name: "PostgresStore"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The store's own write rate, without HTTP, for scripts/bench.
        .executableTarget(
            name: "StoreBenchmark",
            dependencies: [
                .byName(name: "AccountLedger"),
                .byName(name: "SQLiteStore"),
            ],
            swiftSettings: swiftSettings
        ),
        // What the test targets share: building the application or a store on a temporary database (or a
        // PostgreSQL server of its own), the API's bodies and client calls, raw connections, child processes.
        .target(
            name: "TestSupport",
            dependencies: [
                .byName(name: "AccountLedger"),
                .byName(name: "SQLiteStore"),
                .byName(name: "PostgresStore"),
                .byName(name: "AccountHTTP"),
                .byName(name: "AccountServiceApp"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AccountLedgerTests",
            dependencies: [.byName(name: "TestSupport")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SQLiteStoreTests",
            dependencies: [.byName(name: "TestSupport")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PostgresStoreTests",
            dependencies: [.byName(name: "TestSupport"), .product(name: "PostgresNIO", package: "postgres-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AccountHTTPTests",
            dependencies: [.byName(name: "TestSupport"), .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        // The store-independent suites, through the application, over every store.
        .testTarget(
            name: "AccountServiceTests",
            dependencies: [
                .byName(name: "TestSupport"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
