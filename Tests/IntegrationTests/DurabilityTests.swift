import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The agent against a control plane that fails, disappears and cancels, and against its
/// own death: injected faults, SIGKILL, an outage, cancellation, a bounded outbox, the two
/// shutdown signals, and the 400 and 413 rules for report batches.
@Suite("limahost-agent end to end: durability", .serialized)
struct DurabilityTests {
    /// Every kind of fault the reference control plane can inject.
    private static let faultKinds = ["status", "reset", "garbage", "slow", "lostReply"]

    @Test("300 jobs under about 20 % mixed faults on every endpoint each finish once, and --drain exits 0")
    func mixedFaults() async throws {
        try await Harness.withControlPlane { workspace, server in
            let ids = (1...300).map { "list-\($0)" }
            try await server.enqueue(ids.map { id -> [String: Any] in ["id": id, "type": "list_vms"] })
            // About 21 % of all agent requests fail in one of these ways (slow ones only add latency).
            let rules: [[String: Any]] = [
                ["kind": "status", "status": 500, "fraction": 0.04],
                ["kind": "status", "status": 503, "retryAfter": "1", "fraction": 0.03],
                ["kind": "reset", "fraction": 0.04],
                ["kind": "garbage", "fraction": 0.03],
                ["kind": "slow", "delayMs": 200, "fraction": 0.03],
                ["kind": "lostReply", "fraction": 0.04],
            ]
            for var rule in rules {
                rule["endpoint"] = "any"
                rule["count"] = 100_000
                try await server.addFault(rule)
            }
            // One more of each kind, likely but only once: it lands among the first requests,
            // so every kind is applied even when the run needs few requests.
            for kind in Self.faultKinds {
                var rule: [String: Any] = ["endpoint": "any", "kind": kind, "fraction": 0.15, "count": 1]
                if kind == "status" { rule["status"] = 500 }
                if kind == "slow" { rule["delayMs"] = 200 }
                try await server.addFault(rule)
            }
            let agent = try AgentProcess(
                workspace: workspace, config: try workspace.config(url: server.url, maxConcurrent: 8),
                key: server.key, drain: true)
            defer { agent.ensureStopped() }
            let status = try await agent.waitForExit(timeout: .seconds(90))
            #expect(status == 0, "stderr: \(agent.stderrTail())")

            let states = try await server.jobStates()
            #expect(states.count == ids.count)
            var wrong: [String] = []
            for state in states {
                let result = state["result"] as? [String: Any]
                if state["state"] as? String != "finished" || state["recordedResults"] as? Int != 1
                    || result?["status"] as? String != "succeeded"
                {
                    wrong.append(
                        "\(state["id"] ?? "?"): \(state["state"] ?? "?"), recordedResults "
                            + "\(state["recordedResults"] ?? "none"), \(result?["status"] ?? "no result")")
                }
            }
            #expect(wrong.isEmpty, "\(wrong.count) jobs not finished exactly once with success: \(wrong.prefix(10))")
            let applied = try await server.faultsApplied()
            for kind in Self.faultKinds {
                #expect(applied[kind, default: 0] > 0, "no \(kind) fault was applied: \(applied)")
            }
        }
    }

    @Test("Killed with SIGKILL three times, the agent reports the jobs it ran interrupted and runs none twice")
    func killNineRepeatedly() async throws {
        try await Harness.withControlPlane { workspace, server in
            let config = try workspace.config(url: server.url, maxConcurrent: 3)
            let vms = ["k1", "k2", "k3"]
            try await createVMs(vms, workspace: workspace, server: server, config: config)
            let shared = workspace.shared.path
            var jobs: [[String: Any]] = []
            for step in 1...3 {
                for vm in vms {
                    let id = "\(vm)-\(step)"
                    jobs.append([
                        "id": id, "type": "execute_command", "vmName": vm,
                        "command": "echo run >> \(shared)/runs-\(id); sleep 4",
                    ])
                }
            }
            let ids = jobs.compactMap { $0["id"] as? String }
            try await server.enqueue(jobs)

            var agent = try AgentProcess(workspace: workspace, config: config, key: server.key)
            defer { agent.ensureStopped() }
            var seen: Set<String> = []
            for round in 1...3 {
                // On a slow machine every job may have started already: then there is nothing left to kill.
                if Set(ids).isSubset(of: seen) { break }
                // A job that started since the last kill and has no result yet: it runs right now.
                try await Harness.waitUntil("a job to start before SIGKILL \(round)") {
                    for id in ids where !seen.contains(id) && fileExists("\(shared)/runs-\(id)") {
                        if (try await server.job(id))["state"] as? String != "finished" { return true }
                    }
                    return false
                }
                agent.send(SIGKILL)
                try await agent.waitForExit(timeout: .seconds(10))
                seen.formUnion(ids.filter { fileExists("\(shared)/runs-\($0)") })
                agent = try AgentProcess(workspace: workspace, config: config, key: server.key)
            }
            try await Harness.waitUntil("every job to finish", timeout: .seconds(45)) {
                try await server.allFinished(ids)
            }
            let last = agent
            last.send(SIGTERM)
            #expect(try await last.waitForExit(timeout: .seconds(20)) == 0, "stderr: \(last.stderrTail())")

            var interrupted = 0
            for id in ids {
                let state = try await server.job(id)
                #expect(state["recordedResults"] as? Int == 1, "\(id): \(state)")
                let runs = ((try? String(contentsOfFile: "\(shared)/runs-\(id)", encoding: .utf8)) ?? "")
                    .split(separator: "\n").count
                #expect(runs <= 1, "\(id) ran \(runs) times")
                let result = try #require(state["result"] as? [String: Any], "\(id) has no result")
                switch result["status"] as? String ?? "none" {
                case "succeeded":
                    #expect(runs == 1, "\(id) succeeded but ran \(runs) times")
                case "interrupted":
                    #expect(errorCode(result) == "agent_restarted", "\(id): \(result)")
                    interrupted += 1
                case let status:
                    Issue.record("\(id) ended \(status), neither succeeded nor interrupted: \(result)")
                }
            }
            #expect(interrupted >= 1, "a job running at a SIGKILL must be reported interrupted")
        }
    }

    @Test("Claimed jobs keep running while the control plane is down, and their results arrive once it is back")
    func controlPlaneOutage() async throws {
        let workspace = try Workspace()
        defer { workspace.tearDown() }
        let stateFile = workspace.root.appendingPathComponent("refcp-state.json")
        let server = try await ReferenceServer(workspace: workspace, stateFile: stateFile)
        defer { server.stop() }
        let config = try workspace.config(url: server.url, maxConcurrent: 4)
        try await createVMs(["o1"], workspace: workspace, server: server, config: config)
        let shared = workspace.shared.path
        let ids = (1...4).map { "o1-\($0)" }
        try await server.enqueue(
            ids.map { id -> [String: Any] in
                [
                    "id": id, "type": "execute_command", "vmName": "o1",
                    "command": "echo done >> \(shared)/out-\(id); sleep 1",
                ]
            })
        let agent = try AgentProcess(workspace: workspace, config: config, key: server.key)
        defer { agent.ensureStopped() }
        try await Harness.waitUntil("the first job to start") { fileExists("\(shared)/out-\(ids[0])") }
        // All four fit the agent's capacity, so the claim that brought the first brought them all.
        for id in ids {
            #expect((try await server.job(id))["state"] as? String == "leased", "\(id)")
        }

        let url = server.url
        server.stop()
        #expect(fileExists(stateFile.path), "the control plane saves its state on SIGTERM")
        try await Harness.waitUntil("every job to run while the control plane is down", timeout: .seconds(30)) {
            ids.allSatisfy { fileExists("\(shared)/out-\($0)") }
        }
        #expect(agent.isRunning, "the agent must ride out the outage: \(agent.stderrTail())")

        try await server.start()
        #expect(server.url == url)
        try await Harness.waitUntil("every result to arrive after the outage", timeout: .seconds(45)) {
            // The first request after the restart may meet a pooled connection to the old process.
            (try? await server.allFinished(ids)) ?? false
        }
        for id in ids {
            let state = try await server.job(id)
            #expect(state["recordedResults"] as? Int == 1, "\(id): \(state)")
            #expect((state["result"] as? [String: Any])?["status"] as? String == "succeeded", "\(id): \(state)")
        }
        agent.send(SIGTERM)
        #expect(try await agent.waitForExit(timeout: .seconds(20)) == 0, "stderr: \(agent.stderrTail())")
    }

    @Test("A cancelled job is killed with its whole process group, even parts that ignore SIGTERM")
    func cancelKillsTheProcessGroup() async throws {
        try await Harness.withControlPlane { workspace, server in
            let shared = workspace.shared.path
            // All three ignore SIGTERM: the shell, a forked subshell and the subshell's sleep.
            let command =
                "trap '' TERM; (sleep 300 & echo $! > \(shared)/grandchild; wait) & "
                + "echo $! > \(shared)/child; echo $$ > \(shared)/parent; wait"
            try await server.enqueue([
                ["id": "c", "type": "create_vm", "vmName": "x1", "template": "dev"],
                ["id": "stubborn", "type": "execute_command", "vmName": "x1", "timeout": 60_000, "command": command],
            ])
            let agent = try AgentProcess(
                workspace: workspace, config: try workspace.config(url: server.url), key: server.key)
            defer { agent.ensureStopped() }
            var pids: [String: pid_t] = [:]
            try await Harness.waitUntil("the command, its subshell and the sleep to start") {
                for name in ["parent", "child", "grandchild"] { pids[name] = readPID("\(shared)/\(name)") }
                return pids.count == 3
            }
            for (name, pid) in pids {
                #expect(!isGone(pid), "\(name) \(pid) must run before the cancel")
            }

            try await server.admin("POST", "/admin/jobs/stubborn/cancel")
            try await Harness.waitUntil("the cancelled job's result", timeout: .seconds(20)) {
                (try await server.job("stubborn"))["state"] as? String == "finished"
            }
            let state = try await server.job("stubborn")
            #expect(state["recordedResults"] as? Int == 1, "\(state)")
            let result = try #require(state["result"] as? [String: Any])
            #expect(result["status"] as? String == "cancelled", "\(result)")
            #expect(errorCode(result) == "cancelled", "\(result)")
            for (name, pid) in pids.sorted(by: { $0.key < $1.key }) {
                try await Harness.waitUntil("\(name) \(pid) to die", timeout: .seconds(10)) { isGone(pid) }
            }
            #expect(agent.isRunning, "cancelling a job must not stop the agent")
            agent.send(SIGTERM)
            #expect(try await agent.waitForExit(timeout: .seconds(20)) == 0, "stderr: \(agent.stderrTail())")
        }
    }

    @Test("Results pile up past outboxMaxBytes while every report fails, and each is delivered intact")
    func resultsOutliveTheOutboxBound() async throws {
        try await Harness.withControlPlane { workspace, server in
            let shared = workspace.shared.path
            var expected: [String: String] = [:]
            var jobs: [[String: Any]] = [["id": "c", "type": "create_vm", "vmName": "p1", "template": "webapp"]]
            for number in 1...20 {
                let id = "big-\(number)"
                // About 1000 bytes, different for every job.
                let text = String(repeating: "\(id) abcdefghijklmnopqrstuvwxyz0123456789 ", count: 22)
                expected[id] = text
                jobs.append([
                    "id": id, "type": "execute_command", "vmName": "p1",
                    "command": "printf '%s' '\(text)'; touch \(shared)/done-\(id)",
                ])
            }
            let ids = jobs.compactMap { $0["id"] as? String }
            try await server.addFault(["endpoint": "report", "kind": "status", "status": 503, "count": 100_000])
            try await server.enqueue(jobs)
            // Every job fits the capacity, so claiming never waits for a delivery.
            let config = try workspace.config(url: server.url, maxConcurrent: 24, extra: ["outboxMaxBytes": 4096])
            let agent = try AgentProcess(workspace: workspace, config: config, key: server.key)
            defer { agent.ensureStopped() }
            try await Harness.waitUntil("every job to run while reports fail", timeout: .seconds(40)) {
                expected.keys.allSatisfy { fileExists("\(shared)/done-\($0)") }
            }
            #expect(try await server.stats()["results"] as? Int == 0, "no report may have got through yet")
            #expect(agent.isRunning, "stderr: \(agent.stderrTail())")

            try await server.clearFaults()
            try await Harness.waitUntil("every result to be delivered", timeout: .seconds(60)) {
                try await server.allFinished(ids)
            }
            #expect(try await server.result("c")["status"] as? String == "succeeded")
            for (id, text) in expected.sorted(by: { $0.key < $1.key }) {
                let state = try await server.job(id)
                #expect(state["recordedResults"] as? Int == 1, "\(id): \(state)")
                let result = try #require(state["result"] as? [String: Any], "\(id) has no result")
                #expect(result["status"] as? String == "succeeded", "\(id): \(result)")
                #expect(result["stdout"] as? String == text, "\(id)")
            }
            agent.send(SIGTERM)
            #expect(try await agent.waitForExit(timeout: .seconds(20)) == 0, "stderr: \(agent.stderrTail())")
        }
    }

    @Test("A first SIGTERM drains and the job keeps running; a second cancels it, reports it and exits 0")
    func secondSignalCancels() async throws {
        try await Harness.withControlPlane { workspace, server in
            let pidFile = workspace.shared.appendingPathComponent("pid-x").path
            try await server.enqueue([
                ["id": "c", "type": "create_vm", "vmName": "s1", "template": "webapp"],
                [
                    "id": "long", "type": "execute_command", "vmName": "s1", "timeout": 60_000,
                    "command": "echo $$ > \(pidFile); exec sleep 30",
                ],
            ])
            let agent = try AgentProcess(
                workspace: workspace, config: try workspace.config(url: server.url), key: server.key)
            defer { agent.ensureStopped() }
            let pid = try await startedPID(pidFile)

            agent.send(SIGTERM)
            // The heartbeat (every 2 s) shows the first signal was taken: the agent drains.
            try await Harness.waitUntil("a heartbeat that is no longer running", timeout: .seconds(10)) {
                let state = try await server.heartbeatState()
                return state != nil && state != "running"
            }
            #expect(agent.isRunning, "a first SIGTERM must wait for the running job")
            #expect((try await server.job("long"))["state"] as? String == "leased")
            #expect(!isGone(pid), "the job must still run after the first SIGTERM")

            agent.send(SIGTERM)
            #expect(try await agent.waitForExit(timeout: .seconds(15)) == 0, "stderr: \(agent.stderrTail())")
            let result = try await server.result("long")
            #expect(result["status"] as? String == "cancelled", "\(result)")
            #expect(errorCode(result) == "cancelled", "\(result)")
            try await Harness.waitUntil("the job's sleep (pid \(pid)) to die", timeout: .seconds(10)) { isGone(pid) }
        }
    }

    @Test("When drainTimeout runs out, the running job is cancelled and reported, and the agent exits 0")
    func drainBudgetRunsOut() async throws {
        try await Harness.withControlPlane { workspace, server in
            let pidFile = workspace.shared.appendingPathComponent("pid-x").path
            try await server.enqueue([
                ["id": "c", "type": "create_vm", "vmName": "d1", "template": "webapp"],
                [
                    "id": "long", "type": "execute_command", "vmName": "d1", "timeout": 60_000,
                    "command": "echo $$ > \(pidFile); exec sleep 30",
                ],
            ])
            let config = try workspace.config(url: server.url, extra: ["drainTimeout": 1500])
            let agent = try AgentProcess(workspace: workspace, config: config, key: server.key)
            defer { agent.ensureStopped() }
            let pid = try await startedPID(pidFile)

            let clock = ContinuousClock()
            let signalled = clock.now
            agent.send(SIGTERM)
            let status = try await agent.waitForExit(timeout: .seconds(15))
            let elapsed = clock.now - signalled
            #expect(status == 0, "stderr: \(agent.stderrTail())")
            #expect(elapsed >= .milliseconds(1200), "the agent must give the job its drain budget first: \(elapsed)")
            let result = try await server.result("long")
            #expect(result["status"] as? String == "cancelled", "\(result)")
            #expect(errorCode(result) == "cancelled", "\(result)")
            try await Harness.waitUntil("the job's sleep (pid \(pid)) to die", timeout: .seconds(10)) { isGone(pid) }
        }
    }

    @Test("A result refused with 400 is dropped alone: the rest of its batch is delivered and --drain exits 0")
    func badRequestDropsOnlyTheBadResult() async throws {
        try await Harness.withControlPlane { workspace, server in
            let good = (1...9).map { "ok-\($0)" }
            var ids = good
            ids.insert("poison", at: 4)
            try await server.addFault([
                "endpoint": "report", "kind": "status", "status": 400, "jobId": "poison", "count": 100_000,
            ])
            try await server.enqueue(ids.map { id -> [String: Any] in ["id": id, "type": "list_vms"] })
            // All ten at once, so the poison shares its batch with others.
            let agent = try AgentProcess(
                workspace: workspace, config: try workspace.config(url: server.url, maxConcurrent: 10),
                key: server.key, drain: true)
            defer { agent.ensureStopped() }
            let status = try await agent.waitForExit(timeout: .seconds(60))
            #expect(status == 0, "stderr: \(agent.stderrTail())")

            for id in good {
                let state = try await server.job(id)
                #expect(state["recordedResults"] as? Int == 1, "\(id): \(state)")
                #expect((state["result"] as? [String: Any])?["status"] as? String == "succeeded", "\(id): \(state)")
            }
            let poison = try await server.job("poison")
            #expect(poison["recordedResults"] as? Int == 0, "\(poison)")
            #expect(try await server.faultsApplied()["status", default: 0] >= 1, "the 400 rule never matched")
            let lines = agent.stderr.components(separatedBy: "\n")
            #expect(
                lines.contains { $0.contains("poison") && $0.contains("dropped") },
                "no error line names the dropped result: \(agent.stderrTail())")
        }
    }

    @Test("A report batch refused with 413 is split, and every result in it is delivered")
    func payloadTooLargeSplitsTheBatch() async throws {
        try await Harness.withControlPlane { workspace, server in
            let shared = workspace.shared.path
            let ids = (1...8).map { "fat-\($0)" }
            var jobs: [[String: Any]] = [["id": "c", "type": "create_vm", "vmName": "b1", "template": "webapp"]]
            for id in ids {
                jobs.append([
                    "id": id, "type": "execute_command", "vmName": "b1",
                    "command": "head -c 50000 /dev/zero | tr '\\0' a; touch \(shared)/done-\(id)",
                ])
            }
            // Reports fail (503) until all eight outputs wait in the outbox; a batch of 150000
            // bytes or more meets the 413 rule first, so the agent has to split it.
            try await server.addFault([
                "endpoint": "report", "kind": "status", "status": 413, "minBodyBytes": 150_000, "count": 100_000,
            ])
            try await server.addFault(["endpoint": "report", "kind": "status", "status": 503, "count": 100_000])
            try await server.enqueue(jobs)
            let config = try workspace.config(url: server.url, maxConcurrent: 9)
            let agent = try AgentProcess(workspace: workspace, config: config, key: server.key)
            defer { agent.ensureStopped() }
            try await Harness.waitUntil("every job to run while reports fail", timeout: .seconds(40)) {
                ids.allSatisfy { fileExists("\(shared)/done-\($0)") }
            }
            #expect(try await server.stats()["results"] as? Int == 0, "no report may have got through yet")
            try await server.clearFaults(status: 503)
            try await Harness.waitUntil("every result to be delivered", timeout: .seconds(60)) {
                try await server.allFinished(["c"] + ids)
            }
            for id in ids {
                let state = try await server.job(id)
                #expect(state["recordedResults"] as? Int == 1, "\(id): \(state)")
                let result = try #require(state["result"] as? [String: Any], "\(id) has no result")
                #expect(result["status"] as? String == "succeeded", "\(id)")
                let stdout = result["stdout"] as? String ?? ""
                #expect(
                    stdout.utf8.count == 50_000 && stdout.allSatisfy { $0 == "a" },
                    "\(id): \(stdout.utf8.count) bytes of stdout")
            }
            #expect(
                try await server.applied(status: 413) > 0,
                "no batch of 150000 bytes or more was refused with 413, so none was split")
            agent.send(SIGTERM)
            #expect(try await agent.waitForExit(timeout: .seconds(20)) == 0, "stderr: \(agent.stderrTail())")
        }
    }

    @Test("A job whose lease runs out without renewal is stopped with its process and reported cancelled")
    func expiredLeaseStopsTheJob() async throws {
        let workspace = try Workspace()
        defer { workspace.tearDown() }
        let server = try await ReferenceServer(workspace: workspace, leaseMs: 3000)
        defer { server.stop() }
        let shared = workspace.shared.path
        let config = try workspace.config(url: server.url)
        try await createVMs(["l1"], workspace: workspace, server: server, config: config)
        // Every report fails from now on, so no lease is renewed.
        try await server.addFault(["endpoint": "report", "kind": "status", "status": 503, "count": 100_000])
        try await server.enqueue([
            [
                "id": "leased", "type": "execute_command", "vmName": "l1", "timeout": 60_000,
                "command": "echo $$ >> \(shared)/lease-pids; exec sleep 60",
            ]
        ])
        let agent = try AgentProcess(workspace: workspace, config: config, key: server.key)
        defer { agent.ensureStopped() }
        let pid = try await startedPID("\(shared)/lease-pids")
        try await Harness.waitUntil("the job to be stopped when its lease runs out", timeout: .seconds(20)) {
            isGone(pid)
        }
        #expect(agent.stderr.contains("lease ran out"), "stderr: \(agent.stderrTail())")

        try await server.clearFaults()
        var first: [String: Any]?
        try await Harness.waitUntil("the first attempt's result", timeout: .seconds(45)) {
            let results = (try await server.job("leased"))["results"] as? [[String: Any]] ?? []
            first = results.first { $0["attempt"] as? Int == 1 }
            return first != nil
        }
        let result = try #require(first)
        #expect(result["status"] as? String == "cancelled", "\(result)")
        #expect(errorCode(result) == "cancelled", "\(result)")
        let message = (result["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains("lease"), "\(result)")
        // The control plane took the job back and handed it out again: end that attempt too.
        try await server.admin("POST", "/admin/jobs/leased/cancel")
        try await Harness.waitUntil("the job to finish", timeout: .seconds(30)) {
            (try await server.job("leased"))["state"] as? String == "finished"
        }
        agent.send(SIGTERM)
        #expect(try await agent.waitForExit(timeout: .seconds(20)) == 0, "stderr: \(agent.stderrTail())")
    }
}

/// Creates `names` from the webapp template in one `--drain` run on `config`.
private func createVMs(_ names: [String], workspace: Workspace, server: ReferenceServer, config: URL) async throws {
    try await server.enqueue(
        names.map { name -> [String: Any] in
            ["id": "create-\(name)", "type": "create_vm", "vmName": name, "template": "webapp"]
        })
    let agent = try AgentProcess(workspace: workspace, config: config, key: server.key, drain: true)
    defer { agent.ensureStopped() }
    let status = try await agent.waitForExit(timeout: .seconds(60))
    try #require(status == 0, "creating \(names): \(agent.stderrTail())")
    for name in names {
        #expect(try await server.result("create-\(name)")["status"] as? String == "succeeded", "\(name)")
    }
}

/// The pid a command wrote to `path`, once it is all there.
private func readPID(_ path: String) -> pid_t? {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
}

/// Waits until a command wrote its pid to `path` and returns it.
private func startedPID(_ path: String) async throws -> pid_t {
    var pid: pid_t?
    try await Harness.waitUntil("a pid in \(path)") {
        pid = readPID(path)
        return pid != nil
    }
    return try #require(pid)
}

/// Whether `pid` no longer runs: gone (ESRCH), or a zombie nobody has reaped yet.
private func isGone(_ pid: pid_t) -> Bool {
    if kill(pid, 0) != 0 { return errno == ESRCH }
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    return stat.isEmpty || stat.contains(") Z ")
}
