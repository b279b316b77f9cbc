import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("limahost-agent end to end: an idle agent", .serialized)
struct IdleTests {
    @Test("A long poll on a new connection does not spin: URLSession's stale write source is rebuilt")
    func longPollOnNewConnectionDoesNotSpin() async throws {
        // A control plane that closes every connection after its reply, as a proxy or a
        // load balancer may: each claim then connects anew. Without the fix in
        // CCurlSockets, URLSession keeps the write source it made for the connect, the
        // socket is always writable, and the agent burns a core until the reply.
        try await Harness.withControlPlane(serverArguments: ["--close-connections"]) { workspace, server in
            let config = try workspace.config(
                url: server.url, extra: ["pollWait": 3000, "heartbeatInterval": 600_000, "metricsInterval": 600_000])
            let agent = try AgentProcess(workspace: workspace, config: config, key: server.key)
            defer { agent.ensureStopped() }
            try await Harness.waitUntil("the agent's first long poll") { try await server.requestCount("claim") >= 1 }
            let before = try Self.cpuSeconds(agent.pid)
            let claims = try await server.requestCount("claim")
            // Two whole long polls of 3 s, each on a connection of its own.
            try await Harness.waitUntil("two more long polls", timeout: .seconds(60)) {
                try await server.requestCount("claim") >= claims + 2
            }
            let used = try Self.cpuSeconds(agent.pid) - before
            // Spinning, that is about 3 s of CPU per poll; idle, a few milliseconds.
            #expect(used < 1.0, "the agent used \(used) s of CPU over two idle long polls\n\(agent.stderrTail())")
        }
    }

    @Test("Tasks run on the agent's own threads, one per core, and its timers keep time")
    func ownExecutor() async throws {
        try await Harness.withControlPlane { workspace, server in
            let config = try workspace.config(url: server.url, extra: ["heartbeatInterval": 1000])
            let agent = try AgentProcess(workspace: workspace, config: config, key: server.key)
            defer { agent.ensureStopped() }
            try await Harness.waitUntil("the first report") { try await server.requestCount("report") >= 1 }
            #expect(
                Self.threadNames(agent.pid).filter { $0 == "limahost-exec" }.count
                    == ProcessInfo.processInfo.activeProcessorCount)
            try await Self.expectHeartbeats(server, every: .seconds(1))
        }
    }

    @Test("LIMAHOST_EXECUTOR=dispatch keeps Dispatch's executor, and the agent works as before")
    func dispatchExecutor() async throws {
        try await Harness.withControlPlane { workspace, server in
            let config = try workspace.config(url: server.url, extra: ["heartbeatInterval": 1000])
            let agent = try AgentProcess(
                workspace: workspace, config: config, key: server.key, environment: ["LIMAHOST_EXECUTOR": "dispatch"])
            defer { agent.ensureStopped() }
            try await Harness.waitUntil("the first report") { try await server.requestCount("report") >= 1 }
            #expect(!Self.threadNames(agent.pid).contains("limahost-exec"))
            try await Self.expectHeartbeats(server, every: .seconds(1))
        }
    }

    /// Three more heartbeats arrive, and not before three intervals (less a tenth) have
    /// passed: the reporter's sleeps end, and none ends early.
    private static func expectHeartbeats(_ server: ReferenceServer, every interval: Duration) async throws {
        let clock = ContinuousClock()
        let start = try await server.requestCount("report")
        let started = clock.now
        try await Harness.waitUntil("three more heartbeats") { try await server.requestCount("report") >= start + 3 }
        // The wait began just after a report at the earliest: the next three take 2 intervals and more.
        #expect(clock.now - started >= interval * 2 * 0.9)
    }

    /// utime + stime of /proc/PID/stat, all threads, in seconds.
    private static func cpuSeconds(_ pid: pid_t) throws -> Double {
        let text = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // The fields after the command name, which is in parentheses and may hold spaces.
        guard let close = text.lastIndex(of: ")") else { throw HarnessError("bad /proc/\(pid)/stat: \(text)") }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // State is field 3; utime and stime are fields 14 and 15, so 11 and 12 here.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
            throw HarnessError("bad /proc/\(pid)/stat: \(text)")
        }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    private static func threadNames(_ pid: pid_t) -> [String] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        return tasks.compactMap {
            (try? String(contentsOfFile: "/proc/\(pid)/task/\($0)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }
}
