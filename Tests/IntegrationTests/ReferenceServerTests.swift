import Foundation
import Testing

@Suite("The reference control plane's /admin/wait")
struct ReferenceServerTests {
    @Test("/admin/wait says when the last job finished, and leaves the job states out with jobs=false")
    func waitReply() async throws {
        try await Harness.withControlPlane { workspace, server in
            let queued = try await server.admin(
                "POST", "/admin/jobs", [["id": "l1", "type": "list_vms"], ["id": "l2", "type": "list_vms"]])
            let queuedAtNs = try #require((queued["queuedAtNs"] as? NSNumber)?.int64Value)
            let pending = try await server.admin("GET", "/admin/wait?jobs=false&timeoutMs=0")
            #expect(pending["done"] as? Bool == false)
            #expect((pending["lastFinishedAtNs"] as? NSNumber)?.int64Value == 0)
            #expect(pending["jobs"] == nil)

            let config = try workspace.config(url: server.url, maxConcurrent: 2)
            let run = try await AgentRun.drain(config: config, key: server.key)
            #expect(run.status == 0, "stderr: \(run.stderr)")

            let done = try await server.admin("GET", "/admin/wait?jobs=false&timeoutMs=5000")
            #expect(done["done"] as? Bool == true)
            let last = try #require((done["lastFinishedAtNs"] as? NSNumber)?.int64Value)
            #expect(last > queuedAtNs)
            #expect(done["jobs"] == nil)
            // Without jobs=false the reply carries every job's state, as before.
            let full = try await server.admin("GET", "/admin/wait?timeoutMs=0")
            #expect((full["jobs"] as? [Any])?.count == 2)
            #expect((full["lastFinishedAtNs"] as? NSNumber)?.int64Value == last)
        }
    }
}
