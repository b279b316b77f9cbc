import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The built agent against the reference control plane and the limactl stand-in,
/// over real HTTP on loopback, with real processes.
@Suite("limahost-agent end to end", .serialized)
struct PullLoopTests {
    @Test("Every job type runs through --drain and limactl runs as the unprivileged user")
    func everyJobType() async throws {
        try await Harness.withControlPlane { workspace, server in
            try await server.enqueue([
                [
                    "id": "c", "type": "create_vm", "vmName": "web", "template": "webapp",
                    "config": ["cpus": 2, "memory": 2, "disk": 10],
                ],
                ["id": "sh", "type": "execute_command", "vmName": "web", "command": "echo out; echo err >&2"],
                [
                    "id": "argv", "type": "execute_command", "vmName": "web",
                    "argv": ["sh", "-c", "echo $GREETING in $(pwd)"],
                    "env": ["GREETING": "hello"], "workdir": "/tmp",
                ],
                ["id": "who", "type": "execute_command", "vmName": "web", "argv": ["id", "-un"]],
                ["id": "exit3", "type": "execute_command", "vmName": "web", "command": "exit 3"],
                ["id": "info", "type": "get_vm_info", "vmName": "web"],
                ["id": "stop", "type": "stop_vm", "vmName": "web"],
                ["id": "start", "type": "start_vm", "vmName": "web"],
                ["id": "restart", "type": "restart_vm", "vmName": "web"],
                ["id": "del-running", "type": "delete_vm", "vmName": "web"],
                ["id": "stop-f", "type": "stop_vm", "vmName": "web", "force": true],
                ["id": "list", "type": "list_vms"],
                ["id": "del", "type": "delete_vm", "vmName": "web"],
                ["id": "missing", "type": "get_vm_info", "vmName": "nope"],
            ])
            let config = try workspace.config(url: server.url, maxConcurrent: 1)
            let run = try await AgentRun.drain(config: config, key: server.key)
            // exit3, del-running and missing did not succeed.
            #expect(run.status == 1, "stderr: \(run.stderr)")

            let create = try await server.result("c")
            #expect(create["status"] as? String == "succeeded")
            let created = try #require(create["data"] as? [String: Any])
            #expect(created["status"] as? String == "Running")
            #expect(created["cpus"] as? Int == 2)
            #expect(created["memoryBytes"] as? Int == 2 << 30)

            let shell = try await server.result("sh")
            #expect(shell["status"] as? String == "succeeded")
            #expect(shell["stdout"] as? String == "out\n")
            #expect(shell["stderr"] as? String == "err\n")
            #expect(shell["exitCode"] as? Int == 0)

            #expect(try await server.result("argv")["stdout"] as? String == "hello in /tmp\n")
            let who = try await server.result("who")
            if let user = Harness.devUser {
                #expect(who["stdout"] as? String == "\(user)\n")
            }
            let failed = try await server.result("exit3")
            #expect(failed["status"] as? String == "failed")
            #expect(failed["exitCode"] as? Int == 3)
            #expect((failed["error"] as? [String: Any])?["code"] as? String == "command_failed")

            #expect((try await server.result("info")["data"] as? [String: Any])?["name"] as? String == "web")
            #expect((try await server.result("stop")["data"] as? [String: Any])?["status"] as? String == "Stopped")
            #expect((try await server.result("start")["data"] as? [String: Any])?["status"] as? String == "Running")
            #expect((try await server.result("restart")["data"] as? [String: Any])?["status"] as? String == "Running")
            let refused = try await server.result("del-running")
            #expect(refused["status"] as? String == "failed")
            #expect(((refused["error"] as? [String: Any])?["message"] as? String)?.contains("Running") == true)
            #expect((try await server.result("stop-f")["data"] as? [String: Any])?["status"] as? String == "Stopped")
            let vms = try #require(
                (try await server.result("list")["data"] as? [String: Any])?["vms"] as? [[String: Any]])
            #expect(vms.map { $0["name"] as? String } == ["web"])
            #expect((try await server.result("del")["data"] as? [String: Any])?["deleted"] as? String == "web")
            let missing = try await server.result("missing")
            #expect((missing["error"] as? [String: Any])?["code"] as? String == "vm_not_found")
            for id in ["c", "sh", "del"] {
                let result = try await server.result(id)
                #expect(result["startedAt"] is String && result["finishedAt"] is String && result["duration"] is Int)
            }
            #expect(!FileManager.default.fileExists(atPath: workspace.limaHome.appendingPathComponent("web").path))
        }
    }

    @Test("Bad parameters and policy refusals are reported rejected and nothing runs")
    func badParametersAreRejected() async throws {
        try await Harness.withControlPlane { workspace, server in
            try await server.enqueue([
                ["id": "unknown", "type": "format_disk", "vmName": "web"],
                ["id": "badname", "type": "start_vm", "vmName": "bad name"],
                ["id": "noname", "type": "stop_vm"],
                ["id": "cpus", "type": "create_vm", "vmName": "web", "template": "webapp", "config": ["cpus": "two"]],
                ["id": "path", "type": "create_vm", "vmName": "web", "template": "../../etc/passwd"],
                ["id": "notallowed", "type": "create_vm", "vmName": "web", "template": "windows"],
                ["id": "toobig", "type": "create_vm", "vmName": "web", "template": "webapp", "config": ["cpus": 64]],
            ])
            let run = try await AgentRun.drain(config: try workspace.config(url: server.url), key: server.key)
            #expect(run.status == 1)
            let expected: [(String, String, String)] = [
                ("unknown", "unsupported_job_type", "type"), ("badname", "policy_denied", "vmName"),
                ("noname", "invalid_job", "vmName: is required"), ("cpus", "invalid_job", "config.cpus"),
                ("path", "policy_denied", "template"), ("notallowed", "policy_denied", "allowedVmTemplates"),
                ("toobig", "resource_limit_exceeded", "maxCpuPerVm"),
            ]
            for (id, code, fragment) in expected {
                let result = try await server.result(id)
                #expect(result["status"] as? String == "rejected", "\(id)")
                let error = try #require(result["error"] as? [String: Any])
                #expect(error["code"] as? String == code, "\(id)")
                #expect((error["message"] as? String)?.contains(fragment) == true, "\(id): \(error)")
            }
            let entries = try FileManager.default.contentsOfDirectory(atPath: workspace.limaHome.path)
            #expect(entries.filter { !$0.hasPrefix("_") }.isEmpty, "nothing may have been created")
        }
    }

    @Test("A timed-out command that ignores SIGTERM and forks a child is killed with its child")
    func timeoutKillsTheProcessGroup() async throws {
        try await Harness.withControlPlane { workspace, server in
            let pids = workspace.shared.path
            try await server.enqueue([
                ["id": "c", "type": "create_vm", "vmName": "t1", "template": "dev"],
                [
                    "id": "hang", "type": "execute_command", "vmName": "t1", "timeout": 1000,
                    "command":
                        "trap '' TERM; sleep 300 & echo $! > \(pids)/child; echo $$ > \(pids)/parent; wait; wait",
                ],
            ])
            let config = try workspace.config(url: server.url, extra: ["security": ["maxCommandTimeout": 300_000]])
            let run = try await AgentRun.drain(config: config, key: server.key)
            #expect(run.status == 1)
            let result = try await server.result("hang")
            #expect(result["status"] as? String == "timed_out")
            #expect((result["error"] as? [String: Any])?["code"] as? String == "timeout")
            for name in ["child", "parent"] {
                let text = try String(contentsOfFile: "\(pids)/\(name)", encoding: .utf8)
                let pid = try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)))
                // Gone, or a zombie waiting for init to reap it: either way it no longer runs.
                try await Harness.waitUntil("\(name) \(pid) to die", timeout: .seconds(10)) {
                    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
                    return stat.isEmpty || stat.contains(") Z ")
                }
            }
        }
    }

    @Test("Jobs on one VM run in arrival order and never more than the limit run at once")
    func perVMOrderAndConcurrencyLimit() async throws {
        try await Harness.withControlPlane { workspace, server in
            let log = workspace.shared.path
            var jobs: [[String: Any]] = []
            for vm in ["a", "b", "c"] {
                jobs.append([
                    "id": "create-\(vm)", "type": "create_vm", "vmName": vm, "template": "api",
                    "config": ["start": true],
                ])
            }
            for step in 1...4 {
                for vm in ["a", "b", "c"] {
                    jobs.append([
                        "id": "\(vm)-\(step)", "type": "execute_command", "vmName": vm,
                        "command": "echo \(step) >> \(log)/\(vm).log; sleep 0.\(5 - step)",
                    ])
                }
            }
            try await server.enqueue(jobs)
            let run = try await AgentRun.drain(
                config: try workspace.config(url: server.url, maxConcurrent: 2), key: server.key)
            #expect(run.status == 0, "stderr: \(run.stderr)")
            for vm in ["a", "b", "c"] {
                let lines = try String(contentsOfFile: "\(log)/\(vm).log", encoding: .utf8)
                #expect(lines == "1\n2\n3\n4\n", "VM \(vm)")
            }
            // From the results' own timestamps: at no instant did more than 2 jobs run.
            var results: [[String: Any]] = []
            for job in jobs { results.append(try await server.result(try #require(job["id"] as? String))) }
            #expect(try peakConcurrency(results) <= 2)
        }
    }

    @Test("Under load claims are batched, and jobs that only read one VM run side by side")
    func batchedClaimsAndSharedReads() async throws {
        try await Harness.withControlPlane { workspace, server in
            let count = 48
            var jobs: [[String: Any]] = [["id": "create", "type": "create_vm", "vmName": "r", "template": "api"]]
            for index in 0..<count { jobs.append(["id": "info-\(index)", "type": "get_vm_info", "vmName": "r"]) }
            try await server.enqueue(jobs)
            let run = try await AgentRun.drain(
                config: try workspace.config(url: server.url, maxConcurrent: 6), key: server.key)
            #expect(run.status == 0, "stderr: \(run.stderr.suffix(3000))")
            var results: [[String: Any]] = []
            for index in 0..<count {
                let result = try await server.result("info-\(index)")
                #expect(result["status"] as? String == "succeeded", "info-\(index): \(result)")
                results.append(result)
            }
            let peak = try peakConcurrency(results)
            #expect(peak >= 2, "reads of one VM overlapped")
            #expect(peak <= 6)
            // One claim per free slot would be about one per job (the first brings 6, then
            // each finish frees one). Batched, a claim waits for half of the 6 slots or 100 ms,
            // so it brings about 3; under a loaded test machine the 100 ms runs out more often.
            let requests = (try await server.stats())["requests"] as? [String: Any]
            let claims = try #require(requests?["claim"] as? Int)
            #expect(claims <= count * 3 / 4, "\(claims) claims for \(count + 1) jobs")
        }
    }

    @Test("With pollInterval the agent claims with wait 0 on a timer and still runs what arrives")
    func intervalPolling() async throws {
        try await Harness.withControlPlane { workspace, server in
            let (process, pipe) = try AgentRun.start(
                config: try workspace.config(url: server.url, extra: ["pollInterval": 300, "logLevel": "info"]),
                key: server.key, drain: false)
            defer { process.terminate() }
            try await Harness.waitUntil("two claims") {
                (try? await server.requestCount("claim")) ?? 0 >= 2
            }
            // A long poll would be held open at the control plane; these never are.
            #expect((try await server.stats())["claimsWaiting"] as? Int == 0)
            try await server.enqueue([["id": "listed", "type": "list_vms"]])
            try await Harness.waitUntil("the job to finish") { (try? await server.allFinished(["listed"])) ?? false }
            #expect((try await server.result("listed"))["status"] as? String == "succeeded")
            process.terminate()
            let run = await AgentRun.finish(process, pipe)
            #expect(run.status == 0, "stderr: \(run.stderr.suffix(3000))")
        }
    }

    @Test("A second delivery of a running job (same id and attempt) is not run again")
    func duplicateDeliveryRunsOnce() async throws {
        try await Harness.withControlPlane { workspace, server in
            let counter = workspace.shared.appendingPathComponent("runs").path
            let marker = workspace.shared.appendingPathComponent("started").path
            try await server.enqueue([
                ["id": "c", "type": "create_vm", "vmName": "d1", "template": "webapp"],
                [
                    "id": "once", "type": "execute_command", "vmName": "d1",
                    "command": "echo run >> \(counter); touch \(marker); sleep 2",
                ],
            ])
            let (process, pipe) = try AgentRun.start(
                config: try workspace.config(url: server.url), key: server.key, drain: true)
            try await Harness.waitUntil("the job to start") { FileManager.default.fileExists(atPath: marker) }
            try await server.admin("POST", "/admin/jobs/once/redeliver", ["sameAttempt": true])
            #expect(await AgentRun.finish(process, pipe).status == 0)
            #expect(try String(contentsOfFile: counter, encoding: .utf8) == "run\n")
            let state = try await server.job("once")
            #expect(state["deliveries"] as? Int == 2)
            #expect((state["result"] as? [String: Any])?["status"] as? String == "succeeded")
        }
    }

    @Test("--drain exits 3 when the control plane refuses the key or cannot be reached")
    func drainExitsThreeWithoutAControlPlane() async throws {
        try await Harness.withControlPlane { workspace, server in
            let refused = try await AgentRun.drain(config: try workspace.config(url: server.url), key: "wrong-key-123")
            #expect(refused.status == 3)
            #expect(!refused.stderr.contains("wrong-key-123"))
            server.stop()
            // drainRetryTimeout: how long --drain keeps trying an unreachable control plane.
            let unreachable = try await AgentRun.drain(
                config: try workspace.config(url: server.url, extra: ["drainRetryTimeout": 2000]), key: server.key)
            #expect(unreachable.status == 3)
        }
    }

    @Test("An empty queue drains with exit 0, and a root agent without limaUser is a configuration error")
    func emptyQueueAndConfiguration() async throws {
        try await Harness.withControlPlane { workspace, server in
            let run = try await AgentRun.drain(config: try workspace.config(url: server.url), key: server.key)
            #expect(run.status == 0)
            let stats = try await server.admin("GET", "/admin/stats")
            #expect(((stats["requests"] as? [String: Any])?["register"] as? Int ?? 0) >= 1)
            if Harness.devUser != nil {
                let config = try workspace.config(url: server.url, extra: ["limaUser": NSNull()])
                let root = try await AgentRun.drain(config: config, key: server.key)
                #expect(root.status == 2)
                #expect(root.stderr.contains("limaUser"))
            }
        }
    }

    @Test("In service mode SIGTERM stops claiming, lets the running job finish, delivers it and exits 0")
    func serviceModeStopsCleanly() async throws {
        try await Harness.withControlPlane { workspace, server in
            let marker = workspace.shared.appendingPathComponent("started").path
            try await server.enqueue([
                ["id": "c", "type": "create_vm", "vmName": "s1", "template": "webapp"],
                [
                    "id": "slow", "type": "execute_command", "vmName": "s1",
                    "command": "touch \(marker); sleep 1; echo finished",
                ],
            ])
            let (process, pipe) = try AgentRun.start(
                config: try workspace.config(url: server.url), key: server.key, drain: false)
            try await Harness.waitUntil("the job to start") { FileManager.default.fileExists(atPath: marker) }
            process.terminate()
            let run = await AgentRun.finish(process, pipe)
            #expect(run.status == 0, "stderr: \(run.stderr)")
            let result = try await server.result("slow")
            #expect(result["status"] as? String == "succeeded")
            #expect(result["stdout"] as? String == "finished\n")
            let stats = try await server.admin("GET", "/admin/stats")
            let agent = (stats["agents"] as? [String: Any])?["it-agent"] as? [String: Any]
            #expect((agent?["lastHeartbeat"] as? [String: Any])?["state"] as? String == "stopping")
        }
    }
}

/// The most results whose startedAt…finishedAt spans overlap at one instant (an end
/// at the same instant as a start counts first, so back-to-back jobs do not overlap).
private func peakConcurrency(_ results: [[String: Any]]) throws -> Int {
    var events: [(Date, Int)] = []
    for result in results {
        let start = try #require(parseDate(result["startedAt"]))
        let end = try #require(parseDate(result["finishedAt"]))
        events += [(start, 1), (end, -1)]
    }
    var running = 0
    var peak = 0
    for event in events.sorted(by: { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }) {
        running += event.1
        peak = max(peak, running)
    }
    return peak
}

private func parseDate(_ value: Any?) -> Date? {
    guard let text = value as? String else { return nil }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let date = formatter.date(from: text) { return date }
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.date(from: text)
}
