import Crypto
import Foundation
import Models
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The operations beside the VM lifecycle, end to end: backup_vm and restore_vm with
/// their refusals, collect_logs, a job's live output, the agent's own warnings as log
/// chunks, and heartbeat health and metrics checked against figures the test knows.
@Suite("limahost-agent end to end: operations", .serialized)
struct OperationsTests {
    @Test("backup_vm archives a running VM and starts it again; restore_vm brings it back byte for byte")
    func backupRoundTrip() async throws {
        try await Harness.withControlPlane { workspace, server in
            let backupDir = try makeBackupDir(workspace)
            let config = try workspace.config(url: server.url, extra: ["backupDir": backupDir.path])
            try await createVMs(["orig"], workspace: workspace, server: server, config: config)
            let instance = workspace.limaHome.appendingPathComponent("orig")
            let disk = randomBytes(3 << 20)
            let payload = randomBytes(100_000)
            try writeOwned(disk, to: instance.appendingPathComponent("diffdisk"))
            try writeOwned(payload, to: instance.appendingPathComponent("data.bin"))
            // Regular files under the excluded names: a graceful stop leaves them, the backup must not take them.
            try writeOwned(Data("stale\n".utf8), to: instance.appendingPathComponent("extra.pid"))
            try writeOwned(Data("stale\n".utf8), to: instance.appendingPathComponent("extra.sock"))

            let backup = try await drainOne(
                ["id": "backup", "type": "backup_vm", "vmName": "orig", "backupPath": "orig.tar.gz"],
                workspace: workspace, server: server, config: config)
            #expect(backup.status == 0, "stderr: \(backup.stderr)")
            let result = backup.result
            #expect(result["status"] as? String == "succeeded", "\(result)")
            let data = try #require(result["data"] as? [String: Any], "\(result)")
            let archive = try realPath(backupDir.path) + "/orig.tar.gz"
            #expect(data["path"] as? String == archive, "\(result)")
            let archived = try Data(contentsOf: URL(fileURLWithPath: archive))
            let digest = sha256Hex(archived)
            #expect(data["sizeBytes"] as? Int == archived.count, "\(result)")
            #expect(data["sha256"] as? String == digest, "\(result)")
            #expect(data["vmName"] as? String == "orig", "\(result)")
            let created = (data["createdAt"] as? String).flatMap(RFC3339.parse)
            let started = (result["startedAt"] as? String).flatMap(RFC3339.parse)
            let finished = (result["finishedAt"] as? String).flatMap(RFC3339.parse)
            if let created, let started, let finished {
                #expect(started <= created && created <= finished, "createdAt outside the job's run: \(result)")
            } else {
                Issue.record("createdAt, startedAt or finishedAt is not an RFC 3339 time: \(result)")
            }

            // Stopped for the copy, and started again afterwards.
            let after = try await drainOne(
                ["id": "info", "type": "get_vm_info", "vmName": "orig"], workspace: workspace, server: server,
                config: config)
            #expect(vmData(after.result)["status"] as? String == "Running", "\(after.result)")

            let listing = try await Harness.runChecked(tool("tar"), ["-tzf", archive]).stdout
                .split(separator: "\n").map(String.init)
            #expect(listing.contains("orig/diffdisk") && listing.contains("orig/data.bin"), "\(listing)")
            #expect(listing.contains("orig/lima.yaml"), "\(listing)")
            #expect(
                listing.allSatisfy { $0 == "orig/" || $0.hasPrefix("orig/") }, "one top-level directory: \(listing)")
            let excluded = listing.filter { $0.hasSuffix(".pid") || $0.hasSuffix(".sock") }
            #expect(excluded.isEmpty, "pid files and sockets must stay out of a backup: \(excluded)")

            let deleted = try await drainOne(
                ["id": "delete", "type": "delete_vm", "vmName": "orig", "force": true], workspace: workspace,
                server: server, config: config)
            #expect(deleted.result["status"] as? String == "succeeded", "\(deleted.result)")
            #expect(!fileExists(instance.path), "delete_vm left \(instance.path)")

            let restore = try await drainOne(
                [
                    "id": "restore", "type": "restore_vm", "backupPath": "orig.tar.gz", "vmName": "copy",
                    "sha256": digest, "start": true,
                ], workspace: workspace, server: server, config: config)
            #expect(restore.status == 0, "stderr: \(restore.stderr)")
            #expect(restore.result["status"] as? String == "succeeded", "\(restore.result)")
            let restored = vmData(restore.result)
            #expect(restored["name"] as? String == "copy", "\(restore.result)")
            #expect(restored["status"] as? String == "Running", "\(restore.result)")

            let copy = workspace.limaHome.appendingPathComponent("copy")
            #expect(try Data(contentsOf: copy.appendingPathComponent("diffdisk")) == disk, "diffdisk differs")
            #expect(try Data(contentsOf: copy.appendingPathComponent("data.bin")) == payload, "data.bin differs")
            for name in ["extra.pid", "extra.sock"] {
                #expect(!fileExists(copy.appendingPathComponent(name).path), "\(name) came back from the archive")
            }
            if let user = Harness.devUser, let ids = Harness.userIDs(user) {
                for path in [
                    copy.path, copy.appendingPathComponent("diffdisk").path,
                    copy.appendingPathComponent("data.bin").path,
                ] {
                    let owner = ownerIDs(path)
                    #expect(owner?.uid == ids.uid && owner?.gid == ids.gid, "\(path) is not owned by \(user)")
                }
            }
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: workspace.limaHome.path)
                .filter { $0.hasPrefix(".restore-") }
            #expect(leftovers.isEmpty, "staging directories left in LIMA_HOME: \(leftovers)")
        }
    }

    @Test("backup_vm refuses a running VM with stopIfRunning false, a path out of backupDir, and an existing archive")
    func backupRefusals() async throws {
        try await Harness.withControlPlane { workspace, server in
            let backupDir = try makeBackupDir(workspace)
            let config = try workspace.config(url: server.url, extra: ["backupDir": backupDir.path])
            try await createVMs(["keep"], workspace: workspace, server: server, config: config)
            let taken = backupDir.appendingPathComponent("taken.tar.gz")
            let takenBytes = randomBytes(4096)
            try takenBytes.write(to: taken)

            let refused = try await drain(
                [
                    [
                        "id": "no-stop", "type": "backup_vm", "vmName": "keep", "backupPath": "no-stop.tar.gz",
                        "stopIfRunning": false,
                    ],
                    ["id": "escape", "type": "backup_vm", "vmName": "keep", "backupPath": "../escape.tar.gz"],
                ], workspace: workspace, server: server, config: config)
            #expect(refused.status == 1, "stderr: \(refused.stderr)")
            expectRefused(
                try await server.result("no-stop"), status: "rejected", code: "policy_denied", ["stopIfRunning"])
            expectRefused(try await server.result("escape"), status: "rejected", code: "policy_denied", ["backupPath"])

            // Separately, so that the refusal above met the VM running whatever this one does to it.
            let existing = try await drainOne(
                ["id": "taken", "type": "backup_vm", "vmName": "keep", "backupPath": "taken.tar.gz"],
                workspace: workspace, server: server, config: config)
            #expect(existing.status == 1, "stderr: \(existing.stderr)")
            expectRefused(existing.result, status: "failed", code: "backup_failed", ["already exists"])
            #expect(try Data(contentsOf: taken) == takenBytes, "an existing archive must be left as it was")

            let names = try FileManager.default.contentsOfDirectory(atPath: backupDir.path)
            #expect(names == ["taken.tar.gz"], "no archive and no temporary file may have been written: \(names)")
            #expect(!fileExists(workspace.root.appendingPathComponent("escape.tar.gz").path), "../ was followed")
            // The failed backup stopped the VM for its copy; it must run again.
            let info = try await drainOne(
                ["id": "info", "type": "get_vm_info", "vmName": "keep"], workspace: workspace, server: server,
                config: config)
            #expect(vmData(info.result)["status"] as? String == "Running", "\(info.result)")
        }
    }

    @Test("restore_vm refuses a wrong sha256, an existing name and a symlink out of the archive, leaving nothing")
    func restoreRefusals() async throws {
        try await Harness.withControlPlane { workspace, server in
            let backupDir = try makeBackupDir(workspace)
            let config = try workspace.config(url: server.url, extra: ["backupDir": backupDir.path])
            try await createVMs(["src"], workspace: workspace, server: server, config: config)
            let backup = try await drainOne(
                ["id": "backup", "type": "backup_vm", "vmName": "src", "backupPath": "src.tar.gz"],
                workspace: workspace, server: server, config: config)
            try #require(backup.result["status"] as? String == "succeeded", "\(backup.result)")
            let digest = sha256Hex(try Data(contentsOf: backupDir.appendingPathComponent("src.tar.gz")))

            // A Lima-looking archive whose one extra member is a symlink to /etc/passwd.
            let staging = workspace.root.appendingPathComponent("evil-staging")
            let evil = staging.appendingPathComponent("evil")
            try FileManager.default.createDirectory(at: evil, withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                at: workspace.templates.appendingPathComponent("webapp.yaml"),
                to: evil.appendingPathComponent("lima.yaml"))
            try FileManager.default.createSymbolicLink(
                atPath: evil.appendingPathComponent("x").path, withDestinationPath: "/etc/passwd")
            let evilArchive = backupDir.appendingPathComponent("evil.tar.gz").path
            try await Harness.runChecked(tool("tar"), ["-czf", evilArchive, "-C", staging.path, "evil"])
            let evilListing = try await Harness.runChecked(tool("tar"), ["-tzvf", evilArchive]).stdout
            try #require(evilListing.contains("evil/x -> /etc/passwd"), "\(evilListing)")

            let run = try await drain(
                [
                    [
                        "id": "wrong-sha", "type": "restore_vm", "backupPath": "src.tar.gz", "vmName": "other",
                        "sha256": String(repeating: "0", count: 64),
                    ],
                    ["id": "exists", "type": "restore_vm", "backupPath": "src.tar.gz", "vmName": "src"],
                    ["id": "evil", "type": "restore_vm", "backupPath": "evil.tar.gz", "vmName": "new"],
                ], workspace: workspace, server: server, config: config)
            #expect(run.status == 1, "stderr: \(run.stderr)")
            expectRefused(
                try await server.result("wrong-sha"), status: "failed", code: "backup_failed", ["sha256", digest])
            expectRefused(try await server.result("exists"), status: "rejected", code: "vm_exists", ["src"])
            expectRefused(try await server.result("evil"), status: "failed", code: "backup_failed", ["evil/x"])

            let entries = try FileManager.default.contentsOfDirectory(atPath: workspace.limaHome.path)
            #expect(entries.filter { !$0.hasPrefix("_") }.sorted() == ["src"], "LIMA_HOME holds \(entries)")
            #expect(!entries.contains { $0.hasPrefix(".restore-") }, "staging directories left: \(entries)")
            for name in ["other", "new", "evil"] {
                #expect(!fileExists(workspace.limaHome.appendingPathComponent(name).path), "\(name) was created")
            }
        }
    }

    @Test("collect_logs returns the last lines of the VM's host agent logs and serial console, as on disk")
    func collectLogs() async throws {
        try await Harness.withControlPlane { workspace, server in
            let config = try workspace.config(url: server.url)
            try await createVMs(["logs"], workspace: workspace, server: server, config: config)
            let instance = workspace.limaHome.appendingPathComponent("logs")
            let serial = try String(contentsOf: instance.appendingPathComponent("serial.log"), encoding: .utf8)
            try #require(
                serial.split(separator: "\n").count > 2, "serial.log must be longer than the lines asked for: \(serial)"
            )

            let collected = try await drainOne(
                ["id": "collect", "type": "collect_logs", "vmName": "logs", "lines": 2], workspace: workspace,
                server: server, config: config)
            #expect(collected.status == 0, "stderr: \(collected.stderr)")
            let result = collected.result
            #expect(result["status"] as? String == "succeeded", "\(result)")
            let files = try #require((result["data"] as? [String: Any])?["files"] as? [String: Any], "\(result)")
            // What the stand-in writes: its host agent's stdout and stderr, and a serial console.
            #expect(files.keys.sorted() == ["ha.stderr.log", "ha.stdout.log", "serial.log"], "\(result)")
            for name in files.keys.sorted() {
                let text = files[name] as? String ?? "(not a string)"
                let path = instance.appendingPathComponent(name).path
                let tail = try await Harness.runChecked(tool("tail"), ["-n", "2", path]).stdout
                #expect(text.split(separator: "\n").count <= 2, "\(name): \(text)")
                #expect(text == tail, "\(name) is not the end of the file on disk")
            }
        }
    }

    @Test("A running command's output reaches the control plane in ordered chunks while it still runs")
    func liveOutput() async throws {
        try await Harness.withControlPlane { workspace, server in
            let config = try workspace.config(url: server.url)
            try await createVMs(["talk"], workspace: workspace, server: server, config: config)
            try await server.enqueue([
                [
                    "id": "live", "type": "execute_command", "vmName": "talk", "timeout": 30_000,
                    "command": "for i in $(seq 1 12); do echo line-$i; sleep 0.4; done; echo err >&2",
                ]
            ])
            let agent = try AgentProcess(workspace: workspace, config: config, key: server.key)
            defer { agent.ensureStopped() }

            // The chunks first, then the job: a job still leased afterwards was leased when they were read.
            var early: [[String: Any]] = []
            var stateThen: [String: Any] = [:]
            try await Harness.waitUntil("a stdout chunk of the running job, or its end", timeout: .seconds(20)) {
                early = try await logChunks(server, jobId: "live")
                stateThen = try await server.job("live")
                return !chunks(early, "stdout").isEmpty || stateThen["state"] as? String == "finished"
            }
            #expect(!chunks(early, "stdout").isEmpty, "no stdout chunk arrived before the job ended: \(stateThen)")
            #expect(stateThen["state"] as? String == "leased", "the job was no longer running: \(stateThen)")
            let resultThen = stateThen["result"] != nil
            #expect(!resultThen, "the result had arrived already: \(stateThen)")

            try await Harness.waitUntil("the job to finish", timeout: .seconds(20)) {
                (try await server.job("live"))["state"] as? String == "finished"
            }
            let result = try await server.result("live")
            let expected = (1...12).map { "line-\($0)\n" }.joined()
            #expect(result["status"] as? String == "succeeded", "\(result)")
            #expect(result["stdout"] as? String == expected, "\(result)")
            #expect(result["stderr"] as? String == "err\n", "\(result)")

            var all: [[String: Any]] = []
            try await Harness.waitUntil("every chunk of the job's output", timeout: .seconds(10)) {
                all = try await logChunks(server, jobId: "live")
                return joinedText(chunks(all, "stdout")).utf8.count >= expected.utf8.count
                    && !chunks(all, "stderr").isEmpty
            }
            #expect(all.allSatisfy { $0["jobId"] as? String == "live" }, "\(all)")
            for stream in ["stdout", "stderr"] {
                let mine = chunks(all, stream)
                let seqs = mine.compactMap { $0["seq"] as? Int }
                #expect(seqs.count == mine.count, "a \(stream) chunk without an integer seq: \(mine)")
                #expect(seqs.sorted() == Array(0..<mine.count), "\(stream) seq values: \(seqs)")
            }
            #expect(joinedText(chunks(all, "stdout")) == result["stdout"] as? String, "\(all)")
            #expect(joinedText(chunks(all, "stderr")) == "err\n", "\(all)")

            agent.send(SIGTERM)
            #expect(try await agent.waitForExit(timeout: .seconds(20)) == 0, "stderr: \(agent.stderrTail())")
        }
    }

    @Test("A warning the agent logs about a job reaches the control plane as an agent chunk with the job's id")
    func agentWarningsAreForwarded() async throws {
        try await Harness.withControlPlane { workspace, server in
            let config = try workspace.config(url: server.url)
            try await createVMs(["warn"], workspace: workspace, server: server, config: config)
            let run = try await drain(
                [
                    ["id": "fails", "type": "execute_command", "vmName": "warn", "command": "exit 3"],
                    ["id": "fine", "type": "execute_command", "vmName": "warn", "command": "echo fine"],
                ], workspace: workspace, server: server, config: config)
            #expect(run.status == 1, "stderr: \(run.stderr)")
            let failed = try await server.result("fails")
            #expect(failed["status"] as? String == "failed" && failed["exitCode"] as? Int == 3, "\(failed)")
            #expect(try await server.result("fine")["status"] as? String == "succeeded")

            let agentChunks = chunks(try await logChunks(server), "agent")
            let aboutFailure = agentChunks.filter { $0["jobId"] as? String == "fails" }
            #expect(
                aboutFailure.contains { ($0["text"] as? String ?? "").contains("job finished") },
                "no agent chunk for job fails says \"job finished\": \(agentChunks)")
            // Only warnings and above: the successful job's "job finished" is logged at info level.
            #expect(
                !agentChunks.contains { $0["jobId"] as? String == "fine" }, "an info line was forwarded: \(agentChunks)"
            )
        }
    }

    @Test("Heartbeat health and metrics carry the host's memory, the VM counts and the driver's resident memory")
    func healthAndMetrics() async throws {
        try await Harness.withControlPlane { workspace, server in
            let config = try workspace.config(
                url: server.url, extra: ["metricsInterval": 1000, "heartbeatInterval": 1000])
            try await server.enqueue([
                ["id": "create-up", "type": "create_vm", "vmName": "up", "template": "webapp"],
                [
                    "id": "create-down", "type": "create_vm", "vmName": "down", "template": "webapp",
                    "config": ["start": false],
                ],
            ])
            // LIMA_* passes through the agent to limactl: each VM's driver holds 48 MiB resident.
            let agent = try AgentProcess(
                workspace: workspace, config: config, key: server.key,
                environment: ["LIMA_STANDIN_DRIVER_RSS_MB": "48"])
            defer { agent.ensureStopped() }
            try await Harness.waitUntil("both VMs to be created", timeout: .seconds(20)) {
                try await server.allFinished(["create-up", "create-down"])
            }
            let up = try await server.result("create-up")
            #expect(vmData(up)["status"] as? String == "Running", "\(up)")
            let down = try await server.result("create-down")
            #expect(vmData(down)["status"] as? String == "Stopped", "\(down)")
            let memTotal = try memTotalBytes()
            let mib = 1 << 20

            var health: [String: Any] = [:]
            try await Harness.waitUntil("a heartbeat counting one Running and one Stopped VM", timeout: .seconds(15)) {
                health = try await lastHealth(server) ?? [:]
                let counts = (health["vms"] as? [String: Any])?.compactMapValues { $0 as? Int }
                return counts == ["Running": 1, "Stopped": 1]
            }
            #expect((health["memory"] as? [String: Any])?["totalBytes"] as? Int == memTotal, "\(health)")
            #expect(((health["disk"] as? [String: Any])?["totalBytes"] as? Int ?? 0) > 0, "\(health)")
            #expect(health["lima"] as? String == "ok", "\(health)")
            let cpu = try #require(number(health["cpuPercent"]), "\(health)")
            #expect((0.0...100.0).contains(cpu), "\(health)")

            var sample: [String: Any] = [:]
            try await Harness.waitUntil("a metrics sample with both VMs and both creates", timeout: .seconds(15)) {
                let found = try await metricsSamples(server).last { candidate in
                    let vms = candidate["vms"] as? [[String: Any]] ?? []
                    let creates = (candidate["operations"] as? [String: Any])?["create_vm"] as? [String: Any]
                    let hasUp = vms.contains { $0["name"] as? String == "up" && $0["rssBytes"] != nil }
                    let hasDown = vms.contains { $0["name"] as? String == "down" }
                    return hasUp && hasDown && creates?["succeeded"] as? Int == 2
                }
                sample = found ?? [:]
                return found != nil
            }
            let vms = sample["vms"] as? [[String: Any]] ?? []
            let upVM = try #require(vms.first { $0["name"] as? String == "up" }, "\(sample)")
            let downVM = try #require(vms.first { $0["name"] as? String == "down" }, "\(sample)")
            #expect(upVM["status"] as? String == "Running", "\(upVM)")
            let rss = try #require(upVM["rssBytes"] as? Int, "\(upVM)")
            // 48 MiB touched plus the stand-in's own runtime (about 19 MiB for a debug build);
            // under 80 MiB, so the host agent process (about 20 MiB more) is not counted in.
            #expect(rss >= 48 * mib && rss < 80 * mib, "rssBytes \(rss) of \(upVM)")
            #expect(downVM["status"] as? String == "Stopped", "\(downVM)")
            if let stoppedRSS = downVM["rssBytes"] {
                let isNull = stoppedRSS is NSNull
                #expect(isNull, "a stopped VM has no resident memory: \(downVM)")
            }
            let system = sample["system"] as? [String: Any] ?? [:]
            #expect((system["memory"] as? [String: Any])?["totalBytes"] as? Int == memTotal, "\(system)")
            let creates = (sample["operations"] as? [String: Any])?["create_vm"] as? [String: Any] ?? [:]
            #expect(creates["succeeded"] as? Int == 2, "\(creates)")
            #expect((number(creates["p50"]) ?? 0) > 0, "\(creates)")

            // The driver's resident set as /proc shows it, found through its pid file.
            let vmType = try #require(vmData(up)["vmType"] as? String, "\(up)")
            let pidFile = workspace.limaHome.appendingPathComponent("up/\(vmType).pid")
            let pidText = try String(contentsOf: pidFile, encoding: .utf8)
            let pid = try #require(pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)), "\(pidText)")
            let actual = try #require(residentBytes(pid), "no VmRSS for the driver \(pid)")
            #expect(abs(rss - actual) <= 4 * mib, "reported \(rss), /proc/\(pid)/status says \(actual)")

            agent.send(SIGTERM)
            #expect(try await agent.waitForExit(timeout: .seconds(20)) == 0, "stderr: \(agent.stderrTail())")
        }
    }
}

/// `<workspace>/backups`, made before the agent runs (backupDir; the default is outside the workspace).
private func makeBackupDir(_ workspace: Workspace) throws -> URL {
    let directory = workspace.root.appendingPathComponent("backups")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}

/// Enqueues `jobs`, runs one `--drain` on `config` and returns its exit status and the end of its stderr.
private func drain(
    _ jobs: [[String: Any]], workspace: Workspace, server: ReferenceServer, config: URL
) async throws -> (status: Int32, stderr: String) {
    try await server.enqueue(jobs)
    let agent = try AgentProcess(workspace: workspace, config: config, key: server.key, drain: true)
    defer { agent.ensureStopped() }
    let status = try await agent.waitForExit(timeout: .seconds(30))
    return (status, agent.stderrTail())
}

/// `drain` with one job, and that job's result.
private func drainOne(
    _ job: [String: Any], workspace: Workspace, server: ReferenceServer, config: URL
) async throws -> (status: Int32, stderr: String, result: [String: Any]) {
    let id = try #require(job["id"] as? String)
    let run = try await drain([job], workspace: workspace, server: server, config: config)
    let result = try await server.result(id)
    return (run.status, run.stderr, result)
}

/// Creates `names` from the webapp template in one `--drain` run on `config`.
private func createVMs(_ names: [String], workspace: Workspace, server: ReferenceServer, config: URL) async throws {
    let run = try await drain(
        names.map { name -> [String: Any] in
            ["id": "create-\(name)", "type": "create_vm", "vmName": name, "template": "webapp"]
        }, workspace: workspace, server: server, config: config)
    try #require(run.status == 0, "creating \(names): \(run.stderr)")
    for name in names {
        #expect(try await server.result("create-\(name)")["status"] as? String == "succeeded", "\(name)")
    }
}

/// A result's `data` (a VM for the lifecycle, info and restore jobs), empty when absent.
private func vmData(_ result: [String: Any]) -> [String: Any] {
    result["data"] as? [String: Any] ?? [:]
}

/// A host tool by name, where Debian keeps it.
private func tool(_ name: String) -> String {
    ["/usr/bin/\(name)", "/bin/\(name)"].first { FileManager.default.isExecutableFile(atPath: $0) }
        ?? "/usr/bin/\(name)"
}

/// `count` random bytes.
private func randomBytes(_ count: Int) -> Data {
    var generator = SystemRandomNumberGenerator()
    let words: [UInt64] = (0..<(count + 7) / 8).map { _ in generator.next() }
    return words.withUnsafeBytes { Data($0.prefix(count)) }
}

/// Writes `data` to `url` (as root) and gives the file to the Lima user, as if the VM had written it.
private func writeOwned(_ data: Data, to url: URL) throws {
    try data.write(to: url)
    guard let user = Harness.devUser, let ids = Harness.userIDs(user) else { return }
    guard chown(url.path, ids.uid, ids.gid) == 0 else {
        throw HarnessError("chown \(url.path): \(String(cString: strerror(errno)))")
    }
}

/// The owner of `path` itself (a symlink is not followed).
private func ownerIDs(_ path: String) -> (uid: uid_t, gid: gid_t)? {
    var info = stat()
    guard lstat(path, &info) == 0 else { return nil }
    return (info.st_uid, info.st_gid)
}

/// realpath(3).
private func realPath(_ path: String) throws -> String {
    guard let resolved = realpath(path, nil) else {
        throw HarnessError("realpath \(path): \(String(cString: strerror(errno)))")
    }
    defer { free(resolved) }
    return String(cString: resolved)
}

private func sha256Hex(_ data: Data) -> String {
    SHA256.hash(data: data).map { byte in
        let hex = String(byte, radix: 16)
        return byte < 16 ? "0" + hex : hex
    }.joined()
}

/// The log chunks the control plane received (`GET /admin/logs`), those of `jobId` when given.
private func logChunks(_ server: ReferenceServer, jobId: String? = nil) async throws -> [[String: Any]] {
    let reply = try await server.admin("GET", "/admin/logs" + (jobId.map { "?jobId=\($0)" } ?? ""))
    guard let logs = reply["logs"] as? [[String: Any]] else {
        throw HarnessError("GET /admin/logs answered without a log list: \(reply)")
    }
    return logs
}

/// The chunks of one stream, in the order received.
private func chunks(_ all: [[String: Any]], _ stream: String) -> [[String: Any]] {
    all.filter { $0["stream"] as? String == stream }
}

/// The chunks' text in seq order.
private func joinedText(_ chunks: [[String: Any]]) -> String {
    chunks.sorted { ($0["seq"] as? Int ?? 0) < ($1["seq"] as? Int ?? 0) }.map { $0["text"] as? String ?? "" }.joined()
}

/// The metrics samples the control plane received (`GET /admin/metrics`), oldest first.
private func metricsSamples(_ server: ReferenceServer) async throws -> [[String: Any]] {
    let reply = try await server.admin("GET", "/admin/metrics")
    guard let samples = reply["metrics"] as? [[String: Any]] else {
        throw HarnessError("GET /admin/metrics answered without a sample list: \(reply)")
    }
    return samples
}

/// The `health` of the agent's last heartbeat (`GET /admin/stats`), nil before one carried it.
private func lastHealth(_ server: ReferenceServer, agentId: String = "it-agent") async throws -> [String: Any]? {
    let agent = ((try await server.stats())["agents"] as? [String: Any])?[agentId] as? [String: Any]
    return (agent?["lastHeartbeat"] as? [String: Any])?["health"] as? [String: Any]
}

/// A JSON number as a Double, whether it was written as an integer or not.
private func number(_ value: Any?) -> Double? {
    if let value = value as? Double { return value }
    if let value = value as? Int { return Double(value) }
    return nil
}

/// The host's memory: `MemTotal` from /proc/meminfo, in bytes.
private func memTotalBytes() throws -> Int {
    let text = try String(contentsOfFile: "/proc/meminfo", encoding: .utf8)
    guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
        let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
    else { throw HarnessError("no MemTotal in /proc/meminfo: \(text.prefix(200))") }
    return kilobytes * 1024
}

/// `VmRSS` of a process from /proc/<pid>/status, in bytes.
private func residentBytes(_ pid: pid_t) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
    else { return nil }
    let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
    return fields.dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
}
