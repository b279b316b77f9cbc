import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The reference control plane binary, started on a free loopback port.
final class ReferenceServer: @unchecked Sendable {
    let process = Process()
    let key: String
    let url: String

    init(workspace: Workspace, key: String = "it-key-\(UUID().uuidString.prefix(8))", leaseMs: Int = 60_000)
        async throws
    {
        self.key = key
        let portFile = workspace.root.appendingPathComponent("port-\(UUID().uuidString.prefix(6))")
        process.executableURL = Harness.binDir.appendingPathComponent("limahost-refcp")
        process.arguments = [
            "--port", "0", "--port-file", portFile.path, "--api-key", key, "--lease-ms", String(leaseMs),
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        try await Harness.waitUntil("the reference control plane's port file") {
            ((try? String(contentsOf: portFile, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                .isEmpty == false
        }
        let port = try String(contentsOf: portFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        url = "http://127.0.0.1:\(port)"
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    @discardableResult
    func admin(_ method: String, _ path: String, _ body: Any? = nil) async throws -> [String: Any] {
        guard let target = URL(string: url + path) else { throw HarnessError("bad URL \(path)") }
        var request = URLRequest(url: target)
        request.httpMethod = method
        request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let body { request.httpBody = try JSONSerialization.data(withJSONObject: body) }
        let (data, response) = try await Harness.session.data(for: request)
        guard let http = response as? HTTPURLResponse, http.statusCode == 200 else {
            throw HarnessError("admin \(method) \(path) failed: \(String(decoding: data, as: UTF8.self))")
        }
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    func enqueue(_ jobs: [[String: Any]]) async throws {
        try await admin("POST", "/admin/jobs", jobs)
    }

    func job(_ id: String) async throws -> [String: Any] {
        try await admin("GET", "/admin/jobs/\(id)")
    }

    func result(_ id: String) async throws -> [String: Any] {
        let state = try await job(id)
        guard let result = state["result"] as? [String: Any] else {
            throw HarnessError("job \(id) has no result: \(state)")
        }
        return result
    }
}

/// A run of `limahost-agent`.
struct AgentRun {
    let status: Int32
    let stderr: String

    static func start(config: URL, key: String?, drain: Bool, environment: [String: String] = [:]) throws -> (
        Process, Pipe
    ) {
        let process = Process()
        process.executableURL = Harness.binDir.appendingPathComponent("limahost-agent")
        process.arguments = ["--config", config.path] + (drain ? ["--drain"] : [])
        var env = ["PATH": "/usr/local/bin:/usr/bin:/bin"]
        if let key { env["LIMAHOST_API_KEY"] = key }
        for (name, value) in environment { env[name] = value }
        process.environment = env
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return (process, pipe)
    }

    static func drain(config: URL, key: String?, environment: [String: String] = [:]) async throws -> AgentRun {
        let (process, pipe) = try start(config: config, key: key, drain: true, environment: environment)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return AgentRun(status: process.terminationStatus, stderr: String(decoding: data, as: UTF8.self))
    }
}
