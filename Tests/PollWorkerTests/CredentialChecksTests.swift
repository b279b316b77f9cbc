import Foundation
import Testing

@testable import PollWorker

private let configPath = "/etc/limahost/agent.json"
private let keyPath = "/etc/limahost/api-key"

/// Host checks whose `fileMode` answers from `modes` (a path not in it cannot be read).
private func checks(_ modes: [String: UInt32]) -> HostChecks {
    let account = UserAccount(name: "agent", uid: 1000, gid: 1000, home: "/home/agent")
    return HostChecks(
        effectiveUserIsRoot: false, lookupUser: { _ in nil }, currentUser: { account },
        executableOnPath: { _ in "/usr/local/bin/limactl" }, fileMode: { modes[$0] })
}

/// A loaded configuration read from `configPath`, its key from `keyFile` (if any).
private func loaded(keyFile: String?) -> ConfigLoadResult {
    ConfigLoadResult(
        config: AgentConfig(agentId: "host-1", agentName: "host-1"), path: configPath,
        apiKeySource: keyFile.map { "controlPlaneApiKeyFile \($0)" } ?? "none", keyFile: keyFile, problems: [])
}

@Suite("HostChecks: who may read and write the key and the configuration")
struct CredentialChecksTests {
    @Test(
        "A key file and configuration readable by the owner (and group) only are fine",
        arguments: [UInt32(0o600), 0o400, 0o640, 0o660, 0o620])
    func privateModes(mode: UInt32) {
        let problems = checks([configPath: mode, keyPath: mode]).credentialProblems(loaded(keyFile: keyPath))
        #expect(problems.isEmpty)
    }

    @Test("A key file other users can read is a warning on controlPlaneApiKeyFile")
    func readableKeyFile() throws {
        let problems = checks([configPath: 0o600, keyPath: 0o644]).credentialProblems(loaded(keyFile: keyPath))
        try #require(problems.count == 1)
        let problem = try #require(problems.first)
        #expect(problem.severity == .warning)
        #expect(problem.keyPath == "controlPlaneApiKeyFile")
        #expect(problem.message.contains(keyPath))
        #expect(problem.message.contains("readable by other users"))
        #expect(problem.message.contains("0644"))
    }

    @Test("A key file other users can write is a host problem on controlPlaneApiKeyFile")
    func writableKeyFile() throws {
        let problems = checks([configPath: 0o600, keyPath: 0o666]).credentialProblems(loaded(keyFile: keyPath))
        try #require(problems.count == 1)
        let problem = try #require(problems.first)
        #expect(problem.severity == .host)
        #expect(problem.keyPath == "controlPlaneApiKeyFile")
        #expect(problem.message.contains(keyPath))
        #expect(problem.message.contains("writable by other users"))
    }

    @Test("A key file writable but not readable by others is still a host problem")
    func writeOnlyKeyFile() {
        let problems = checks([configPath: 0o600, keyPath: 0o602]).credentialProblems(loaded(keyFile: keyPath))
        #expect(problems.map(\.severity) == [.host])
        #expect(problems.map(\.keyPath) == ["controlPlaneApiKeyFile"])
    }

    @Test("A configuration file other users can write is a host problem")
    func writableConfiguration() throws {
        let problems = checks([configPath: 0o666, keyPath: 0o600]).credentialProblems(loaded(keyFile: keyPath))
        try #require(problems.count == 1)
        let problem = try #require(problems.first)
        #expect(problem.severity == .host)
        #expect(problem.keyPath == "configuration file")
        #expect(problem.message.contains(configPath))
        #expect(problem.message.contains("writable by other users"))
        #expect(problem.message.contains("0666"))
    }

    @Test("The key kept in the configuration file, readable by others, is a warning on controlPlaneApiKey")
    func keyInConfiguration() throws {
        let problems = checks([configPath: 0o644]).credentialProblems(loaded(keyFile: configPath))
        try #require(problems.count == 1)
        let problem = try #require(problems.first)
        #expect(problem.severity == .warning)
        #expect(problem.keyPath == "controlPlaneApiKey")
        #expect(problem.message.contains(configPath))
        #expect(problem.message.contains("readable by other users"))
    }

    @Test("The key in a configuration file anyone can write: the file is a host problem, the key a warning")
    func keyInWritableConfiguration() {
        let problems = checks([configPath: 0o666]).credentialProblems(loaded(keyFile: configPath))
        #expect(problems.map(\.severity) == [.host, .warning])
        #expect(problems.map(\.keyPath) == ["configuration file", "controlPlaneApiKey"])
    }

    @Test("Without a key file only the configuration file's own mode matters")
    func noKeyFile() {
        let readable = checks([configPath: 0o644, keyPath: 0o666]).credentialProblems(loaded(keyFile: nil))
        #expect(readable.isEmpty, "a configuration without the key may be readable")
        let writable = checks([configPath: 0o666, keyPath: 0o666]).credentialProblems(loaded(keyFile: nil))
        #expect(writable.map(\.keyPath) == ["configuration file"])
        #expect(writable.map(\.severity) == [.host])
    }

    @Test("Files whose mode cannot be read raise nothing")
    func unreadableModes() {
        #expect(checks([:]).credentialProblems(loaded(keyFile: keyPath)).isEmpty)
        #expect(checks([:]).credentialProblems(loaded(keyFile: configPath)).isEmpty)
    }

    @Test("The real statMode reads a file's permission bits")
    func realStatMode() throws {
        let directory = FileManager.default.temporaryDirectory
        let path = directory.appendingPathComponent("limahost-mode-\(UUID().uuidString)").path
        try #require(FileManager.default.createFile(atPath: path, contents: Data("k".utf8)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try FileManager.default.setAttributes([.posixPermissions: 0o640], ofItemAtPath: path)
        #expect(HostChecks.statMode(path) == 0o640)
        #expect(HostChecks.statMode(path + "-missing") == nil)
    }
}
