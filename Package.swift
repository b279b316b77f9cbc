// swift-tools-version: 6.2
import PackageDescription

// Every target of ours treats warnings as errors, locally and in CI alike, so a
// warning never reaches a commit.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "limahost-agent",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "limahost-agent", targets: ["LimahostAgent"]),
        .executable(name: "limahost-refcp", targets: ["ReferenceControlPlane"]),
        .executable(name: "limactl-standin", targets: ["LimactlStandIn"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/swhitty/FlyingFox", exact: "0.27.1"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "4.5.2"),
    ],
    targets: [
        // The wire protocol: Foundation only, no I/O. A leaf.
        .target(name: "Models", swiftSettings: strict),
        // Starts a child process (as another user) with raw system calls: C, no helper program.
        .target(name: "CSpawn", cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]),
        // Runs Swift concurrency's global executor on parked threads of ours (C: the runtime's hooks).
        .target(name: "CExecutor", cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]),
        // Stands in front of libcurl's socket callback for URLSession (a FoundationNetworking bug).
        .target(
            name: "CCurlSockets", cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])],
            // Exported, so that FoundationNetworking's calls bind to it (and kept by --gc-sections).
            linkerSettings: [.unsafeFlags(["-Xlinker", "--export-dynamic-symbol=curl_multi_setopt"])]),
        // The agent's core as a library: configuration, client, executor, services.
        .target(
            name: "PollWorker",
            dependencies: [
                "Models",
                "CSpawn",
                "CExecutor",
                "CCurlSockets",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // The `limahost-agent` command: argument parsing and wiring only.
        .executableTarget(
            name: "LimahostAgent",
            dependencies: [
                "PollWorker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),
        // Development, test and demo only: NOT a production control plane.
        .executableTarget(
            name: "ReferenceControlPlane",
            dependencies: ["Models", .product(name: "FlyingFox", package: "FlyingFox")],
            swiftSettings: strict
        ),
        // A compiled stand-in for `limactl`, faithful to shared/limactl-reference.md.
        .executableTarget(name: "LimactlStandIn", swiftSettings: strict),
        .testTarget(name: "ModelsTests", dependencies: ["Models"], swiftSettings: strict),
        .testTarget(
            name: "PollWorkerTests",
            dependencies: ["PollWorker", "Models", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["Models", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict),
    ]
)
