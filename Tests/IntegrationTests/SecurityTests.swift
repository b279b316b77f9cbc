import Crypto
import Foundation
import Models
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The agent's security rules end to end: signed jobs, the command allow-list, resource
/// limits, template and name policy, operator approval, the control plane address
/// allow-list, key file permissions, and that the API key never shows in any output.
@Suite("limahost-agent end to end: security", .serialized)
struct SecurityTests {
    @Test("With jobSigningKeys only correctly signed jobs run; unsigned, unknown-key, forged and altered ones do not")
    func signedJobs() async throws {
        try await Harness.withControlPlane { workspace, server in
            let signer = JobSigner()
            let shared = workspace.shared.path
            let ranMarker = "\(shared)/signed-ran"
            let markers = ["unsigned", "forged", "altered"].map { "\(shared)/marker-\($0)" }

            var badSignature = try signer.sign(["id": "bad-signature", "type": "list_vms"])
            badSignature["signature"] = try flipOneByte(badSignature["signature"])
            var otherID = try signer.sign(["id": "inner-id", "type": "list_vms"])
            otherID["id"] = "outer-id"
            var forged = try signer.sign([
                "id": "forged", "type": "execute_command", "vmName": "s1", "command": "touch \(markers[1])",
            ])
            forged["signature"] = try flipOneByte(forged["signature"])
            // Signed as a harmless echo, then the payload swapped for another command.
            var altered = try signer.sign([
                "id": "altered", "type": "execute_command", "vmName": "s1", "command": "echo harmless",
            ])
            altered["payload"] = try SignedJob.base64URLEncode(
                JSONSerialization.data(withJSONObject: [
                    "id": "altered", "type": "execute_command", "vmName": "s1", "command": "touch \(markers[2])",
                ]))
            try await server.enqueue([
                signer.sign(["id": "create", "type": "create_vm", "vmName": "s1", "template": "webapp"]),
                signer.sign(["id": "list", "type": "list_vms"]),
                signer.sign(
                    ["id": "run", "type": "execute_command", "vmName": "s1", "command": "echo signed > \(ranMarker)"]
                ),
                signer.sign(["id": "padded", "type": "list_vms"], padded: true),
                ["id": "unsigned", "type": "list_vms"],
                [
                    "id": "unsigned-command", "type": "execute_command", "vmName": "s1",
                    "command": "touch \(markers[0])",
                ],
                signer.sign(["id": "unknown-key", "type": "list_vms"], keyId: "k9"),
                badSignature,
                otherID,
                forged,
                altered,
            ])
            let config = try workspace.config(
                url: server.url, extra: ["security": ["jobSigningKeys": ["k1": signer.publicKeyBase64]]])
            let run = try await AgentRun.drain(config: config, key: server.key)
            #expect(run.status == 1, "some jobs were refused, so --drain exits 1: \(run.stderr.suffix(3000))")

            for id in ["create", "list", "run", "padded"] {
                #expect(try await server.result(id)["status"] as? String == "succeeded", "\(id)")
            }
            // list_vms needs no VM, so it may run before or after the create: either way it ran.
            let listed = try await server.result("list")["data"] as? [String: Any]
            #expect(listed?["vms"] is [[String: Any]], "\(String(describing: listed))")
            #expect(
                (try? String(contentsOfFile: ranMarker, encoding: .utf8)) == "signed\n",
                "a signed command runs, and can write where the refused ones would have")

            let refused: [(String, String)] = [
                ("unsigned", "not signed"), ("unsigned-command", "not signed"),
                ("unknown-key", "\"k9\" is not in security.jobSigningKeys"), ("bad-signature", "does not verify"),
                ("outer-id", "payload.id"), ("forged", "does not verify"), ("altered", "does not verify"),
            ]
            for (id, fragment) in refused {
                let result = try await server.result(id)
                #expect(result["status"] as? String == "rejected", "\(id): \(result)")
                #expect(result["jobId"] as? String == id, "refused under the outer id: \(result)")
                #expect(result["attempt"] as? Int == 1, "refused under the outer attempt: \(result)")
                #expect(errorCode(result) == "signature_invalid", "\(id): \(result)")
                #expect(errorMessage(result).contains(fragment), "\(id): \(result)")
                let ran = result.keys.contains("data") || result.keys.contains("exitCode")
                #expect(!ran, "nothing of \(id) may have run: \(result)")
            }
            for marker in markers {
                #expect(!fileExists(marker), "\(marker): a refused command ran")
            }
        }
    }

    @Test("allowedCommands admits only listed programs, exactly, and no command string with shell metacharacters")
    func allowedCommands() async throws {
        try await Harness.withControlPlane { workspace, server in
            let shared = workspace.shared.path
            let marker = { (name: String) in "\(shared)/marker-\(name)" }
            try await server.enqueue([
                ["id": "create", "type": "create_vm", "vmName": "c1", "template": "webapp"],
                ["id": "echo", "type": "execute_command", "vmName": "c1", "command": "echo ok"],
                ["id": "uname", "type": "execute_command", "vmName": "c1", "argv": ["uname", "-s"]],
                [
                    "id": "semicolon", "type": "execute_command", "vmName": "c1",
                    "command": "echo hi; touch \(marker("semicolon"))",
                ],
                ["id": "touch", "type": "execute_command", "vmName": "c1", "command": "touch \(marker("touch"))"],
                ["id": "absolute", "type": "execute_command", "vmName": "c1", "argv": ["/bin/echo", "x"]],
                [
                    "id": "newline", "type": "execute_command", "vmName": "c1",
                    "command": "echo a\ntouch \(marker("newline"))",
                ],
                [
                    "id": "substitution", "type": "execute_command", "vmName": "c1",
                    "command": "echo $(touch \(marker("substitution")))",
                ],
                [
                    "id": "argv-touch", "type": "execute_command", "vmName": "c1",
                    "argv": ["touch", marker("argv-touch")],
                ],
            ])
            let config = try workspace.config(
                url: server.url, extra: ["security": ["allowedCommands": ["echo", "uname"]]])
            let run = try await AgentRun.drain(config: config, key: server.key)
            #expect(run.status == 1, "stderr: \(run.stderr.suffix(3000))")

            #expect(try await server.result("create")["status"] as? String == "succeeded")
            let echo = try await server.result("echo")
            #expect(echo["status"] as? String == "succeeded", "\(echo)")
            #expect(echo["stdout"] as? String == "ok\n", "\(echo)")
            let uname = try await server.result("uname")
            #expect(uname["status"] as? String == "succeeded", "\(uname)")
            #expect(uname["stdout"] as? String == "Linux\n", "\(uname)")

            let refused: [(String, [String])] = [
                ("semicolon", ["security.allowedCommands", "metacharacter \";\""]),
                ("touch", ["\"touch\" is not in security.allowedCommands"]),
                ("absolute", ["argv[0]", "\"/bin/echo\" is not in security.allowedCommands"]),
                ("newline", ["metacharacter newline"]),
                ("substitution", ["metacharacter \"$\""]),
                ("argv-touch", ["argv[0]", "\"touch\" is not in security.allowedCommands"]),
            ]
            for (id, fragments) in refused {
                let result = try await server.result(id)
                #expect(result["status"] as? String == "rejected", "\(id): \(result)")
                #expect(errorCode(result) == "policy_denied", "\(id): \(result)")
                for fragment in fragments {
                    #expect(errorMessage(result).contains(fragment), "\(id) should say \(fragment): \(result)")
                }
                #expect(!fileExists(marker(id)), "\(id) ran")
            }
        }
    }

    @Test("resourceLimits: per-VM limits, the VM count and the totals over limactl list refuse a create_vm")
    func resourceLimits() async throws {
        try await Harness.withControlPlane { workspace, server in
            let limits: [String: Any] = [
                "maxVmsPerAgent": 2, "maxCpuPerVm": 2, "maxMemoryPerVm": 4, "maxDiskPerVm": 30,
                "maxTotalCpu": 3, "maxTotalMemory": 16, "maxTotalDisk": 500,
            ]
            let config = try workspace.config(url: server.url, extra: ["resourceLimits": limits])
            // One drain per step, so each create sees the VMs the steps before it made.
            func create(_ name: String, template: String = "webapp", config vmConfig: [String: Any]? = nil)
                async throws -> (status: Int32, result: [String: Any])
            {
                var job: [String: Any] = ["id": name, "type": "create_vm", "vmName": name, "template": template]
                if let vmConfig { job["config"] = vmConfig }
                return try await drainOne(job, server: server, config: config)
            }
            // webapp: 2 cpus, 2 GiB, 20 GiB.
            let first = try await create("r1")
            #expect(first.status == 0 && first.result["status"] as? String == "succeeded", "r1: \(first.result)")

            let overTotal = try await create("r2")
            #expect(overTotal.status == 1)
            expectRejectedResult(overTotal.result, "resource_limit_exceeded", ["maxTotalCpu", "cpus: 4"])

            let fits = try await create("r3", config: ["cpus": 1])
            #expect(fits.status == 0 && fits.result["status"] as? String == "succeeded", "r3: \(fits.result)")

            let third = try await create("r4", config: ["cpus": 1])
            #expect(third.status == 1)
            expectRejectedResult(third.result, "resource_limit_exceeded", ["maxVmsPerAgent"])

            // dev: 4 cpus, over the per-VM limit whatever the totals.
            let big = try await create("r5", template: "dev")
            #expect(big.status == 1)
            expectRejectedResult(big.result, "resource_limit_exceeded", ["maxCpuPerVm", "cpus: 4"])

            let memory = try await create("r6", config: ["memory": 8])
            #expect(memory.status == 1)
            expectRejectedResult(memory.result, "resource_limit_exceeded", ["maxMemoryPerVm", "memory: 8 GiB"])

            let disk = try await create("r7", config: ["disk": 40])
            #expect(disk.status == 1)
            expectRejectedResult(disk.result, "resource_limit_exceeded", ["maxDiskPerVm", "disk: 40 GiB"])

            let list = try await drainOne(["id": "list", "type": "list_vms"], server: server, config: config)
            #expect(list.status == 0)
            let vms = (list.result["data"] as? [String: Any])?["vms"] as? [[String: Any]] ?? []
            #expect(vms.compactMap { $0["name"] as? String }.sorted() == ["r1", "r3"], "\(list.result)")
            #expect(vms.compactMap { $0["cpus"] as? Int }.reduce(0, +) == 3, "\(list.result)")
            #expect(vmDirectories(workspace) == ["r1", "r3"])
        }
    }

    @Test("Template policy: no paths, only allowedVmTemplates, and only templates that exist")
    func templatePolicy() async throws {
        try await Harness.withControlPlane { workspace, server in
            try FileManager.default.removeItem(at: workspace.templates.appendingPathComponent("dev.yaml"))
            try await server.enqueue([
                ["id": "relative", "type": "create_vm", "vmName": "p1", "template": "../etc/passwd"],
                ["id": "absolute", "type": "create_vm", "vmName": "p2", "template": "/etc/passwd"],
                ["id": "not-allowed", "type": "create_vm", "vmName": "p3", "template": "api"],
                ["id": "missing", "type": "create_vm", "vmName": "p4", "template": "dev"],
                ["id": "allowed", "type": "create_vm", "vmName": "p5", "template": "webapp"],
            ])
            let config = try workspace.config(
                url: server.url, extra: ["security": ["allowedVmTemplates": ["webapp", "dev"]]])
            let run = try await AgentRun.drain(config: config, key: server.key)
            #expect(run.status == 1, "stderr: \(run.stderr.suffix(3000))")

            let expected: [(String, [String])] = [
                ("relative", ["template", "no paths allowed"]), ("absolute", ["template", "no paths allowed"]),
                ("not-allowed", ["\"api\"", "security.allowedVmTemplates"]),
                ("missing", ["dev.yaml", "does not exist"]),
            ]
            for (id, fragments) in expected {
                let result = try await server.result(id)
                expectRejectedResult(result, "policy_denied", fragments)
            }
            #expect(try await server.result("allowed")["status"] as? String == "succeeded")
            #expect(vmDirectories(workspace) == ["p5"], "only the allowed template may have made a VM")
        }
    }

    @Test("A VM name outside Lima's rule and an env name that is not a variable name are refused policy_denied")
    func namesAreRefused() async throws {
        try await Harness.withControlPlane { workspace, server in
            let shared = workspace.shared.path
            try await server.enqueue([
                ["id": "create", "type": "create_vm", "vmName": "n1", "template": "webapp"],
                ["id": "start-path", "type": "start_vm", "vmName": "../x"],
                ["id": "create-path", "type": "create_vm", "vmName": "../x", "template": "webapp"],
                ["id": "create-flag", "type": "create_vm", "vmName": "-rf", "template": "webapp"],
                [
                    "id": "command-path", "type": "execute_command", "vmName": "../x",
                    "command": "touch \(shared)/marker-command-path",
                ],
                [
                    "id": "env-bad", "type": "execute_command", "vmName": "n1",
                    "command": "touch \(shared)/marker-env-bad", "env": ["1BAD": "x"],
                ],
                [
                    "id": "env-good", "type": "execute_command", "vmName": "n1",
                    "argv": ["sh", "-c", "echo $GOOD_NAME"], "env": ["GOOD_NAME": "fine"],
                ],
            ])
            let run = try await AgentRun.drain(config: try workspace.config(url: server.url), key: server.key)
            #expect(run.status == 1, "stderr: \(run.stderr.suffix(3000))")

            for id in ["start-path", "create-path", "create-flag", "command-path"] {
                let result = try await server.result(id)
                expectRejectedResult(result, "policy_denied", ["vmName", "not a valid Lima instance name"])
            }
            let badEnv = try await server.result("env-bad")
            expectRejectedResult(badEnv, "policy_denied", ["env", "\"1BAD\""])
            let good = try await server.result("env-good")
            #expect(good["status"] as? String == "succeeded", "\(good)")
            #expect(good["stdout"] as? String == "fine\n", "\(good)")
            for name in ["command-path", "env-bad"] {
                #expect(!fileExists("\(shared)/marker-\(name)"), "\(name) ran")
            }
            #expect(vmDirectories(workspace) == ["n1"])
            #expect(!fileExists(workspace.root.appendingPathComponent("x").path), "../x reached the file system")
        }
    }

    @Test("With requireCommandApproval commands wait, leased, for approve or deny on the host, or time out")
    func commandApproval() async throws {
        let workspace = try Workspace()
        defer { workspace.tearDown() }
        // A lease shorter than approvalTimeout: a waiting job keeps it only if the agent renews it.
        let server = try await ReferenceServer(workspace: workspace, leaseMs: 8000)
        defer { server.stop() }
        let config = try workspace.config(
            url: server.url, extra: ["security": ["requireCommandApproval": true, "approvalTimeout": 12000]])
        try await server.enqueue([["id": "create", "type": "create_vm", "vmName": "ap", "template": "webapp"]])
        // create_vm needs no approval: the drain does not wait for one.
        let created = try await AgentRun.drain(config: config, key: server.key)
        #expect(created.status == 0, "stderr: \(created.stderr.suffix(3000))")
        #expect(try await server.result("create")["status"] as? String == "succeeded")

        let shared = workspace.shared.path
        let ids = ["a1", "d1", "t1"]
        try await server.enqueue([
            ["id": "a1", "type": "execute_command", "vmName": "ap", "command": "echo approved > \(shared)/a1"],
            ["id": "d1", "type": "execute_command", "vmName": "ap", "command": "touch \(shared)/d1"],
            ["id": "t1", "type": "execute_command", "vmName": "ap", "command": "touch \(shared)/t1"],
        ])
        let agent = try AgentProcess(workspace: workspace, config: config, key: server.key)
        defer { agent.ensureStopped() }

        var waiting: [String: String] = [:]
        try await Harness.waitUntil("approvals list to show all three commands", timeout: .seconds(15)) {
            let list = try await approvals(["list"], config: config)
            waiting = [:]
            for line in list.stdout.split(separator: "\n") {
                let columns = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                if columns.count == 5, ids.contains(columns[0]) { waiting[columns[0]] = String(line) }
            }
            return waiting.count == ids.count
        }
        #expect(waiting["a1"]?.contains("echo approved > \(shared)/a1") == true, "\(waiting)")
        for id in ids {
            let state = try await server.job(id)
            #expect(state["state"] as? String == "leased", "\(id) waits for approval, leased: \(state)")
            #expect(!fileExists("\(shared)/\(id)"), "\(id) ran before anyone approved it")
        }
        let waitingState = try await server.job("t1")
        let firstLease = try #require(waitingState["leaseExpiresAt"] as? String, "\(waitingState)")
        var renewed = false
        try await Harness.waitUntil("t1's lease to be renewed while it waits", timeout: .seconds(10)) {
            let state = try await server.job("t1")
            guard state["state"] as? String == "leased" else { return true }
            renewed = (state["leaseExpiresAt"] as? String ?? firstLease) != firstLease
            return renewed
        }
        #expect(renewed, "the lease of a job waiting for approval must be kept alive: \(agent.stderrTail())")

        let approve = try await approvals(["approve", "a1"], config: config)
        #expect(approve.status == 0, "\(approve.both)")
        #expect(approve.stdout == "approved a1\n", "\(approve.both)")
        let deny = try await approvals(["deny", "d1"], config: config)
        #expect(deny.status == 0, "\(deny.both)")
        let unknown = try await approvals(["approve", "nope"], config: config)
        #expect(unknown.status == 2, "\(unknown.both)")
        #expect(unknown.stderr.contains("nope"), "\(unknown.both)")

        try await Harness.waitUntil("every result", timeout: .seconds(20)) { try await server.allFinished(ids) }
        let approved = try await server.result("a1")
        #expect(approved["status"] as? String == "succeeded", "\(approved)")
        #expect((try? String(contentsOfFile: "\(shared)/a1", encoding: .utf8)) == "approved\n")
        let denied = try await server.result("d1")
        #expect(denied["status"] as? String == "rejected", "\(denied)")
        #expect(errorCode(denied) == "approval_denied", "\(denied)")
        #expect(!fileExists("\(shared)/d1"), "a denied command ran")
        let timedOut = try await server.result("t1")
        #expect(timedOut["status"] as? String == "rejected", "\(timedOut)")
        #expect(errorCode(timedOut) == "approval_timeout", "\(timedOut)")
        #expect(errorMessage(timedOut).contains("approvalTimeout"), "\(timedOut)")
        #expect(!fileExists("\(shared)/t1"), "a command nobody approved ran")
        // Refused after approvalTimeout (12 s) from the request, by the agent's own clock.
        let requested = waiting["t1"].map { $0.split(separator: "\t").map(String.init)[3] }.flatMap(RFC3339.parse)
        let refusedAt = (timedOut["finishedAt"] as? String).flatMap(RFC3339.parse)
        if let requested, let refusedAt {
            #expect(refusedAt.timeIntervalSince(requested) >= 11.9, "t1 refused too early: \(requested) \(refusedAt)")
        } else {
            Issue.record("cannot read t1's request and refusal times: \(waiting) \(timedOut)")
        }
        for id in ids {
            let state = try await server.job(id)
            #expect(state["deliveries"] as? Int == 1 && state["attempt"] as? Int == 1, "\(id) lost its lease: \(state)")
        }
        let after = try await approvals(["list"], config: config)
        #expect(after.stdout == "no command waits for approval\n", "\(after.both)")

        agent.send(SIGTERM)
        #expect(try await agent.waitForExit(timeout: .seconds(20)) == 0, "stderr: \(agent.stderrTail())")
    }

    @Test("allowedControlPlaneIps: outside the list nothing is sent and --drain exits 3; inside, jobs run")
    func allowedControlPlaneIps() async throws {
        try await Harness.withControlPlane { workspace, server in
            try await server.enqueue([["id": "list", "type": "list_vms"]])
            let outside = try workspace.config(
                url: server.url,
                extra: ["security": ["allowedControlPlaneIps": ["10.0.0.0/8"]], "drainRetryTimeout": 2000])
            let refused = try await AgentRun.drain(config: outside, key: server.key)
            #expect(refused.status == 3, "stderr: \(refused.stderr.suffix(3000))")
            #expect(refused.stderr.contains("allowedControlPlaneIps"), "\(refused.stderr.suffix(3000))")
            #expect(refused.stderr.contains("127.0.0.1 resolves to 127.0.0.1"), "\(refused.stderr.suffix(3000))")
            let requests = try await server.requestCounts()
            #expect(requests == ["claim": 0, "register": 0, "report": 0], "nothing may have been sent")
            #expect(try await server.job("list")["state"] as? String == "queued")

            let inside = try workspace.config(
                url: server.url, extra: ["security": ["allowedControlPlaneIps": ["127.0.0.1/32"]]])
            let allowed = try await AgentRun.drain(config: inside, key: server.key)
            #expect(allowed.status == 0, "stderr: \(allowed.stderr.suffix(3000))")
            #expect(try await server.result("list")["status"] as? String == "succeeded")

            // Every address localhost resolves to must be listed, and only 127.0.0.1 is. Whether
            // this host also gives ::1 varies, so either outcome passes, each only in its own form.
            let getent = (try? await Harness.run("/usr/bin/getent", ["ahosts", "localhost"]))?.stdout ?? "(no getent)"
            try await server.enqueue([["id": "list-localhost", "type": "list_vms"]])
            let byName = try workspace.config(
                url: "http://localhost:\(server.port)",
                extra: ["security": ["allowedControlPlaneIps": ["127.0.0.1"]], "drainRetryTimeout": 2000])
            let before = try await server.requestCounts()
            let named = try await AgentRun.drain(config: byName, key: server.key)
            let context = "getent ahosts localhost:\n\(getent)\n\(named.stderr.suffix(3000))"
            if named.status == 0 {
                #expect(try await server.result("list-localhost")["status"] as? String == "succeeded", "\(context)")
            } else {
                #expect(named.status == 3, "\(context)")
                // Refused for an address other than 127.0.0.1 (::1), and nothing was sent.
                let refusal = named.stderr.split(separator: "\n").first { $0.contains("allowedControlPlaneIps") } ?? ""
                #expect(refusal.contains("localhost resolves to"), "\(context)")
                #expect(refusal.contains("::1"), "\(context)")
                #expect(try await server.requestCounts() == before, "nothing may have been sent: \(context)")
            }
        }
    }

    @Test("A key file others can write stops the agent; one others can read is a warning; 0600 is quiet")
    func keyFilePermissions() async throws {
        try await Harness.withControlPlane { workspace, server in
            let keyFile = workspace.root.appendingPathComponent("api-key")
            try Data((server.key + "\n").utf8).write(to: keyFile)
            let config = try workspace.config(url: server.url, extra: ["controlPlaneApiKeyFile": keyFile.path])
            // Only the key file's mode is judged here.
            chmod(config.path, 0o600)

            chmod(keyFile.path, 0o666)
            let writable = try await AgentRun.drain(config: config, key: nil)
            #expect(writable.status == 2, "stderr: \(writable.stderr)")
            #expect(writable.stderr.contains("controlPlaneApiKeyFile"), "\(writable.stderr)")
            #expect(writable.stderr.contains("writable by other users"), "\(writable.stderr)")
            #expect(try await server.requestCounts()["register", default: 0] == 0, "nothing may be sent")

            chmod(keyFile.path, 0o644)
            let readable = try await AgentRun.drain(config: config, key: nil)
            #expect(readable.status == 0, "stderr: \(readable.stderr)")
            #expect(readable.stderr.contains("readable by other users"), "\(readable.stderr)")
            #expect(try await server.requestCounts()["register", default: 0] >= 1)

            chmod(keyFile.path, 0o600)
            let quiet = try await AgentRun.drain(config: config, key: nil)
            #expect(quiet.status == 0, "stderr: \(quiet.stderr)")
            #expect(!quiet.stderr.contains("other users"), "\(quiet.stderr)")
        }
    }

    @Test("The API key appears in no output of a full debug-level run, --check-config or a usage error")
    func keyNeverShows() async throws {
        let workspace = try Workspace()
        defer { workspace.tearDown() }
        let key = "sk-live-" + (0..<32).map { _ in String("0123456789abcdef".randomElement() ?? "0") }.joined()
        let server = try await ReferenceServer(workspace: workspace, key: key)
        defer { server.stop() }
        let logFile = workspace.root.appendingPathComponent("agent.log")
        let config = try workspace.config(url: server.url, extra: ["logLevel": "debug", "logFile": logFile.path])
        // A 404 mid-run makes the agent register again; a 503 with Retry-After makes it wait.
        try await server.addFault(["endpoint": "claim", "status": 404, "count": 1])
        try await server.addFault(["endpoint": "report", "status": 503, "retryAfter": "1", "count": 1])
        try await server.enqueue([
            ["id": "c", "type": "create_vm", "vmName": "red", "template": "webapp"],
            ["id": "say", "type": "execute_command", "vmName": "red", "command": "echo visible output"],
            ["id": "fail", "type": "execute_command", "vmName": "red", "command": "exit 3"],
            ["id": "bad", "type": "create_vm", "vmName": "red2", "template": "../etc/passwd"],
        ])
        let run = try await AgentRun.drain(config: config, key: key)
        #expect(run.status == 1, "one job fails and one is rejected: \(run.stderr.suffix(3000))")
        #expect(try await server.result("say")["stdout"] as? String == "visible output\n")
        let applied = try await server.faultsApplied()
        #expect(applied["status", default: 0] == 2, "both faults must have been met: \(applied)")
        let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
        #expect(log.contains("HTTP request"), "the run must have logged at debug level")
        #expect(log.contains("limactl call"), "debug level shows each limactl call")
        #expect(log.contains("registering again"), "the 404 must have been met")

        // --check-config with the key in the configuration file itself.
        let withKey = try workspace.config(url: server.url, extra: ["controlPlaneApiKey": key])
        chmod(withKey.path, 0o600)
        let checked = try await AgentRun.checkConfig(config: withKey, key: nil)
        #expect(checked.status == 0, "\(checked.stderr)")
        #expect(checked.stdout.contains("[REDACTED]"), "\(checked.stdout)")

        // Usage errors echo arguments back; the key must not be among them.
        let bogus = try await agentCommand(["--api-key", key, "--bogus-flag"])
        #expect(bogus.status == 2)
        let extra = try await agentCommand(["--api-key", key, key])
        #expect(extra.status == 2)

        let hex = String(key.dropFirst("sk-live-".count))
        for (name, text) in [
            ("stderr", run.stderr), ("logFile", log), ("--check-config", checked.stdout + checked.stderr),
            ("usage error", bogus.both),
            ("usage error with the key as an argument", extra.both),
        ] {
            #expect(!text.contains(key) && !text.contains(hex), "the key shows in \(name)")
        }
    }
}

/// Signs jobs as a control plane with key "k1" does (control-plane-api.md §4.3).
private struct JobSigner {
    let key = Curve25519.Signing.PrivateKey()

    var publicKeyBase64: String { key.publicKey.rawRepresentation.base64EncodedString() }

    /// The delivery form of `job`: its JSON bytes as `payload`, signed; `padded` keeps base64's `=`.
    func sign(_ job: [String: Any], keyId: String = "k1", padded: Bool = false) throws -> [String: Any] {
        let payload = try JSONSerialization.data(withJSONObject: job, options: [.sortedKeys])
        let signature = try key.signature(for: payload)
        let encode = { (data: Data) -> String in
            let text = SignedJob.base64URLEncode(data)
            guard padded else { return text }
            return text + String(repeating: "=", count: (4 - text.count % 4) % 4)
        }
        let id = job["id"] as? String ?? ""
        return ["id": id, "keyId": keyId, "payload": encode(payload), "signature": encode(signature)]
    }
}

/// A base64url signature with one byte changed.
private func flipOneByte(_ value: Any?) throws -> String {
    guard let text = value as? String, var bytes = SignedJob.base64URLDecode(text), !bytes.isEmpty else {
        throw HarnessError("not a base64url signature: \(String(describing: value))")
    }
    bytes[bytes.startIndex + 7] ^= 0x01
    return SignedJob.base64URLEncode(bytes)
}

/// Enqueues `job`, runs one `--drain` and returns its status and the job's result.
private func drainOne(_ job: [String: Any], server: ReferenceServer, config: URL) async throws -> (
    status: Int32, result: [String: Any]
) {
    let id = try #require(job["id"] as? String)
    try await server.enqueue([job])
    let run = try await AgentRun.drain(config: config, key: server.key)
    let result = try await server.result(id)
    return (run.status, result)
}

/// The VMs in the workspace's LIMA_HOME, sorted (Lima's own `_config` and the like left out).
private func vmDirectories(_ workspace: Workspace) -> [String] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: workspace.limaHome.path)) ?? []
    return entries.filter { !$0.hasPrefix("_") && !$0.hasPrefix(".") }.sorted()
}

/// `limahost-agent ARGUMENTS` with nothing from the test's environment but PATH.
private func agentCommand(_ arguments: [String]) async throws -> ProcessOutput {
    try await Harness.run(
        Harness.binDir.appendingPathComponent("limahost-agent").path, arguments,
        environment: ["PATH": "/usr/local/bin:/usr/bin:/bin"])
}

/// `limahost-agent approvals ARGUMENTS --config CONFIG`.
private func approvals(_ arguments: [String], config: URL) async throws -> ProcessOutput {
    try await agentCommand(["approvals"] + arguments + ["--config", config.path])
}

private func expectRejectedResult(
    _ result: [String: Any], _ code: String, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation
) {
    expectRefused(result, status: "rejected", code: code, fragments, sourceLocation: sourceLocation)
}
