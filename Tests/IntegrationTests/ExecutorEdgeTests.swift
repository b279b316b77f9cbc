import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Edges of the executor and the client, end to end: cleanup after a start that
/// never becomes ready, the output cap, and re-registration after a 404.
@Suite("limahost-agent end to end: edges", .serialized)
struct ExecutorEdgeTests {
    @Test("A create_vm whose start times out is reported timed_out and its VM is stopped with stop -f")
    func startTimeoutStopsTheVM() async throws {
        try await Harness.withControlPlane { workspace, server in
            try await server.enqueue([
                ["id": "slow", "type": "create_vm", "vmName": "boot", "template": "webapp", "timeout": 2000]
            ])
            // The stand-in's host agent never reports `running` (LIMA_* passes through to limactl).
            let run = try await AgentRun.drain(
                config: try workspace.config(url: server.url), key: server.key,
                environment: ["LIMA_STANDIN_BOOT_MS": "600000"])
            #expect(run.status == 1)
            let result = try await server.result("slow")
            #expect(result["status"] as? String == "timed_out")
            #expect(run.stderr.contains("stopped the VM after its start timed out"), "stderr: \(run.stderr)")
            // Lima's host agent outlives `limactl start`; after `stop -f` no pid file is left.
            let instance = workspace.limaHome.appendingPathComponent("boot")
            let files = try FileManager.default.contentsOfDirectory(atPath: instance.path)
            #expect(files.contains("lima.yaml"))
            #expect(files.filter { $0.hasSuffix(".pid") }.isEmpty, "pid files left: \(files)")
        }
    }

    @Test("Output past maxOutputBytes is dropped and outputTruncated is set")
    func outputIsCapped() async throws {
        try await Harness.withControlPlane { workspace, server in
            try await server.enqueue([
                ["id": "c", "type": "create_vm", "vmName": "loud", "template": "webapp"],
                [
                    "id": "flood", "type": "execute_command", "vmName": "loud",
                    "command": "head -c 3000000 /dev/zero | tr '\\0' x; echo tail >&2",
                ],
                ["id": "quiet", "type": "execute_command", "vmName": "loud", "command": "echo small"],
            ])
            let config = try workspace.config(url: server.url, extra: ["maxOutputBytes": 65_536])
            let run = try await AgentRun.drain(config: config, key: server.key)
            #expect(run.status == 0, "stderr: \(run.stderr)")
            let flood = try await server.result("flood")
            #expect((flood["stdout"] as? String)?.utf8.count == 65_536)
            #expect(flood["stderr"] as? String == "tail\n")
            #expect(flood["outputTruncated"] as? Bool == true)
            let quiet = try await server.result("quiet")
            #expect(quiet["outputTruncated"] as? Bool == false)
        }
    }

    @Test("A forgotten agent registers again and carries on, and a --drain run shows as draining")
    func reRegistersAfterNotFound() async throws {
        try await Harness.withControlPlane { workspace, server in
            let (process, pipe) = try AgentRun.start(
                config: try workspace.config(url: server.url), key: server.key, drain: false)
            defer { if process.isRunning { process.terminate() } }
            try await Harness.waitUntil("the first registration") {
                try await registrations(server) == 1
            }
            try await server.admin("POST", "/admin/agents/it-agent/forget")
            try await server.enqueue([["id": "after", "type": "list_vms"]])
            try await Harness.waitUntil("the job after the 404") {
                (try await server.job("after"))["state"] as? String == "finished"
            }
            #expect(try await registrations(server) == 2)
            process.terminate()
            let service = await AgentRun.finish(process, pipe)
            #expect(service.status == 0, "stderr: \(service.stderr.suffix(3000))")

            try await server.enqueue([["id": "drained", "type": "list_vms"]])
            let run = try await AgentRun.drain(config: try workspace.config(url: server.url), key: server.key)
            #expect(run.status == 0)
            let stats = try await server.admin("GET", "/admin/stats")
            let agent = (stats["agents"] as? [String: Any])?["it-agent"] as? [String: Any]
            #expect(agent?["draining"] as? Bool == true)
        }
    }
}

private func registrations(_ server: ReferenceServer) async throws -> Int {
    let stats = try await server.admin("GET", "/admin/stats")
    let agent = (stats["agents"] as? [String: Any])?["it-agent"] as? [String: Any]
    return agent?["registrations"] as? Int ?? 0
}
