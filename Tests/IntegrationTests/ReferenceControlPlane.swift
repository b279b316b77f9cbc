import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The reference control plane binary on a loopback port. The first start binds `port`
/// (0: a free one) and every later `start()` binds that same port, so `url` stays valid
/// across `stop()` and `start()`. With `stateFile` the control plane saves its whole
/// state there on SIGTERM and loads it at start, so a restart keeps jobs and results.
final class ReferenceServer: @unchecked Sendable {
    private(set) var process = Process()
    let key: String
    private(set) var url = ""
    /// The port asked for, then the port bound by the first start.
    private(set) var port: UInt16
    let leaseMs: Int
    let stateFile: URL?
    /// More command-line flags (`--close-connections`).
    let extraArguments: [String]
    private let workspace: Workspace

    init(
        workspace: Workspace, key: String = "it-key-\(UUID().uuidString.prefix(8))", leaseMs: Int = 60_000,
        port: UInt16 = 0, stateFile: URL? = nil, extraArguments: [String] = []
    ) async throws {
        self.workspace = workspace
        self.key = key
        self.leaseMs = leaseMs
        self.port = port
        self.stateFile = stateFile
        self.extraArguments = extraArguments
        try await start()
    }

    /// Starts the control plane (again, after `stop()`) and waits until it listens.
    func start() async throws {
        guard !self.process.isRunning else { return }
        let portFile = workspace.root.appendingPathComponent("port-\(UUID().uuidString.prefix(6))")
        let process = Process()
        process.executableURL = Harness.binDir.appendingPathComponent("limahost-refcp")
        var arguments = [
            "--port", String(port), "--port-file", portFile.path, "--api-key", key, "--lease-ms", String(leaseMs),
        ]
        if let stateFile { arguments += ["--state-file", stateFile.path] }
        process.arguments = arguments + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        try await Harness.waitUntil("the reference control plane's port file") {
            guard process.isRunning else {
                throw HarnessError("limahost-refcp exited with status \(process.terminationStatus) before listening")
            }
            return ((try? String(contentsOf: portFile, encoding: .utf8)) ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines).isEmpty == false
        }
        let text = try String(contentsOf: portFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bound = UInt16(text) else { throw HarnessError("bad port file contents: \(text)") }
        port = bound
        url = "http://127.0.0.1:\(bound)"
    }

    /// SIGTERM (the control plane saves `stateFile`, if any), then waits for the exit.
    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// `stop()` then `start()`: the same port, and with `stateFile` the same state.
    func restart() async throws {
        stop()
        try await start()
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

    /// Every job's JOBSTATE (`GET /admin/jobs`), in the order they were enqueued.
    func jobStates() async throws -> [[String: Any]] {
        let reply = try await admin("GET", "/admin/jobs")
        guard let jobs = reply["jobs"] as? [[String: Any]] else {
            throw HarnessError("GET /admin/jobs answered without a job list: \(reply)")
        }
        return jobs
    }

    /// Whether every job named is `finished`, from one `GET /admin/jobs`.
    func allFinished(_ ids: [String]) async throws -> Bool {
        let states = try await jobStates()
        let finished = Set(states.filter { $0["state"] as? String == "finished" }.compactMap { $0["id"] as? String })
        return ids.allSatisfy { finished.contains($0) }
    }

    func stats() async throws -> [String: Any] {
        try await admin("GET", "/admin/stats")
    }

    /// How many register, claim and report requests the control plane has counted
    /// (`/admin/stats`), held long polls included.
    func requestCounts() async throws -> [String: Int] {
        let requests = (try await stats())["requests"] as? [String: Any] ?? [:]
        return requests.compactMapValues { $0 as? Int }
    }

    /// `requestCounts()` of one call (`register`, `claim`, `report`).
    func requestCount(_ call: String) async throws -> Int {
        try await requestCounts()[call, default: 0]
    }

    /// How many faults of each kind (`status`, `reset`, `garbage`, `slow`, `lostReply`) were applied.
    func faultsApplied() async throws -> [String: Int] {
        let faults = (try await stats())["faults"] as? [String: Any] ?? [:]
        return faults.compactMapValues { $0 as? Int }
    }

    /// Adds a fault rule (`POST /admin/faults`).
    func addFault(_ rule: [String: Any]) async throws {
        try await admin("POST", "/admin/faults", rule)
    }

    /// Clears every fault rule (`DELETE /admin/faults`), or those answering `status`.
    func clearFaults(status: Int? = nil) async throws {
        try await admin("DELETE", "/admin/faults" + (status.map { "?status=\($0)" } ?? ""))
    }

    /// How often each listed rule answering `status` was applied (`GET /admin/faults`).
    func applied(status: Int) async throws -> Int {
        let rules = (try await admin("GET", "/admin/faults"))["faults"] as? [[String: Any]] ?? []
        return rules.filter { $0["status"] as? Int == status }.compactMap { $0["applied"] as? Int }.reduce(0, +)
    }

    /// The `state` of the agent's last heartbeat (`running`, `draining`, `stopping`), nil before the first.
    func heartbeatState(agentId: String = "it-agent") async throws -> String? {
        let agent = ((try await stats())["agents"] as? [String: Any])?[agentId] as? [String: Any]
        return (agent?["lastHeartbeat"] as? [String: Any])?["state"] as? String
    }
}

/// A run of `limahost-agent`.
struct AgentRun {
    let status: Int32
    let stderr: String
    /// What the agent printed on stdout, when the run kept it (`checkConfig`).
    var stdout = ""

    /// The agent's process, not yet started: `--config`, `--drain` if asked, the key in the environment.
    /// A non-empty `wrapper` is the start of the argv: the agent runs as `wrapper + [agent, arguments…]`
    /// (`TLSFixture.trustWrapper`: the agent in a mount namespace with a test CA trusted).
    static func makeProcess(
        config: URL, key: String?, drain: Bool, environment: [String: String] = [:], wrapper: [String] = [],
        arguments extra: [String] = []
    ) -> Process {
        let process = Process()
        let agent = Harness.binDir.appendingPathComponent("limahost-agent")
        let arguments = ["--config", config.path] + (drain ? ["--drain"] : []) + extra
        if let launcher = wrapper.first {
            process.executableURL = URL(fileURLWithPath: launcher)
            process.arguments = Array(wrapper.dropFirst()) + [agent.path] + arguments
        } else {
            process.executableURL = agent
            process.arguments = arguments
        }
        var env = ["PATH": "/usr/local/bin:/usr/bin:/bin"]
        if let key { env["LIMAHOST_API_KEY"] = key }
        for (name, value) in environment { env[name] = value }
        process.environment = env
        return process
    }

    static func start(
        config: URL, key: String?, drain: Bool, environment: [String: String] = [:], wrapper: [String] = []
    ) throws -> (Process, Pipe) {
        let process = makeProcess(config: config, key: key, drain: drain, environment: environment, wrapper: wrapper)
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return (process, pipe)
    }

    static func drain(
        config: URL, key: String?, environment: [String: String] = [:], wrapper: [String] = []
    ) async throws -> AgentRun {
        let (process, pipe) = try start(
            config: config, key: key, drain: true, environment: environment, wrapper: wrapper)
        return await finish(process, pipe)
    }

    /// Reads a started agent's stderr to its end and waits for its exit, off the cooperative pool.
    static func finish(_ process: Process, _ pipe: Pipe) async -> AgentRun {
        let handle = pipe.fileHandleForReading
        return await Harness.offPool {
            let data = handle.readDataToEndOfFile()
            process.waitUntilExit()
            return AgentRun(status: process.terminationStatus, stderr: String(decoding: data, as: UTF8.self))
        }
    }

    /// `--check-config`: the status, and what it printed (the report goes to stdout).
    static func checkConfig(config: URL, key: String?, environment: [String: String] = [:]) async throws
        -> AgentRun
    {
        let process = makeProcess(
            config: config, key: key, drain: false, environment: environment, arguments: ["--check-config"])
        let output = try await Harness.capture(process)
        return AgentRun(status: output.status, stderr: output.stderr, stdout: output.stdout)
    }
}

/// A `limahost-agent` process whose stderr goes to a file in the workspace, so it never
/// blocks on a full pipe and job processes orphaned by a SIGKILL cannot keep a reader
/// waiting. Signals go to the agent's pid only, never to its jobs' process groups.
final class AgentProcess: @unchecked Sendable {
    let process: Process
    let stderrFile: URL
    private let stderrHandle: FileHandle

    init(
        workspace: Workspace, config: URL, key: String?, drain: Bool = false, environment: [String: String] = [:],
        wrapper: [String] = []
    ) throws {
        let file = workspace.root.appendingPathComponent("agent-\(UUID().uuidString.prefix(6)).stderr")
        guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
            throw HarnessError("cannot create \(file.path)")
        }
        let handle = try FileHandle(forWritingTo: file)
        let process = AgentRun.makeProcess(
            config: config, key: key, drain: drain, environment: environment, wrapper: wrapper)
        process.standardError = handle
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        self.process = process
        stderrFile = file
        stderrHandle = handle
    }

    var pid: pid_t { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// Everything the agent wrote to stderr so far.
    var stderr: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }

    /// The end of stderr, for failure messages (a debug log of hundreds of jobs is long).
    func stderrTail(_ characters: Int = 4000) -> String { String(stderr.suffix(characters)) }

    /// Sends `signalNumber` to the agent if it still runs.
    func send(_ signalNumber: Int32) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, signalNumber)
    }

    /// Waits until the agent has exited and returns its status (the signal number if a signal
    /// ended it); fails the test after `timeout`.
    @discardableResult
    func waitForExit(timeout: Duration = .seconds(60)) async throws -> Int32 {
        try await Harness.waitUntil("limahost-agent (pid \(pid)) to exit", timeout: timeout) { !process.isRunning }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGKILL and wait, if it still runs: for `defer`, so no test leaves an agent behind.
    func ensureStopped() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
