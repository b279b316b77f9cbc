import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The agent's transport over real TLS: nginx terminates HTTPS with a certificate from a
/// private test CA and proxies to the reference control plane; the CA reaches the agent only
/// through `deploy/install-ca.sh` (into a scratch root, bind-mounted over /etc/ssl/certs in
/// the agent's own mount namespace, so the real system store never changes); tinyproxy is the
/// CONNECT proxy named by https_proxy. nginx, tinyproxy and unshare are required: a machine
/// without them fails these tests (`.ci/run` installs them).
@Suite("limahost-agent end to end: transport", .serialized)
struct TransportTests {
    @Test("Over HTTPS with the private CA installed through deploy/install-ca.sh, --drain runs every job")
    func httpsWithInstalledCA() async throws {
        try await Harness.withControlPlane { workspace, server in
            let tls = try await TLSFixture(workspace: workspace)
            let nginx = try await NginxProxy.start(workspace: workspace, tls: tls, upstreamPort: server.port)
            defer { nginx.stop() }

            let claims = "/v1/agents/it-agent/jobs/claim"
            let report = "/v1/agents/it-agent/report"
            var (claimsBefore, reportsBefore) = (0, 0)
            for host in ["localhost", "127.0.0.1"] {
                let ids = ["\(host)-1", "\(host)-2"]
                try await server.enqueue(ids.map { ["id": $0, "type": "list_vms"] })
                let config = try workspace.config(url: "https://\(host):\(nginx.port)")
                let run = try await AgentRun.drain(config: config, key: server.key, wrapper: tls.trustWrapper)
                #expect(run.status == 0, "https://\(host): stderr: \(run.stderr)")
                for id in ids {
                    let result = try await server.result(id)
                    #expect(result["status"] as? String == "succeeded", "\(id): \(result)")
                    #expect((result["data"] as? [String: Any])?["vms"] is [Any], "\(id): \(result)")
                }
                // nginx saw this run's calls, so they really went over TLS through it.
                try await Harness.waitUntil("nginx to log the claims and reports of the https://\(host) run") {
                    nginx.posts(claims) > claimsBefore && nginx.posts(report) > reportsBefore
                }
                (claimsBefore, reportsBefore) = (nginx.posts(claims), nginx.posts(report))
            }
            #expect(nginx.posts("/v1/agents/it-agent/register") >= 2, "access log: \(nginx.accessLog)")
        }
    }

    @Test("An untrusted certificate is refused, and the error says how to install the CA")
    func untrustedCertificateIsRefused() async throws {
        try await Harness.withControlPlane { workspace, server in
            let tls = try await TLSFixture(workspace: workspace)
            let nginx = try await NginxProxy.start(workspace: workspace, tls: tls, upstreamPort: server.port)
            defer { nginx.stop() }
            try await server.enqueue([["id": "never", "type": "list_vms"]])

            // No wrapper: the agent sees the real system store, which does not hold the test CA.
            let config = try workspace.config(
                url: "https://localhost:\(nginx.port)", extra: ["drainRetryTimeout": 2000])
            let run = try await AgentRun.drain(config: config, key: server.key)
            #expect(run.status == 3, "stderr: \(run.stderr)")
            #expect(run.stderr.contains("install-ca.sh"), "stderr: \(run.stderr)")

            let requests = (try await server.stats())["requests"] as? [String: Any] ?? [:]
            #expect(requests["claim"] as? Int == 0, "requests: \(requests)")
            #expect(requests["register"] as? Int == 0, "requests: \(requests)")
            #expect(requests["report"] as? Int == 0, "requests: \(requests)")
            #expect(try await server.job("never")["state"] as? String == "queued")
            #expect(nginx.accessLog.isEmpty, "access log: \(nginx.accessLog)")
            // The refusal was the agent's: it aborted every TLS handshake.
            #expect(nginx.errorLog.contains("SSL_do_handshake() failed"), "error log: \(nginx.errorLog)")
        }
    }

    @Test("Through a CONNECT proxy (tinyproxy) from https_proxy")
    func throughConnectProxy() async throws {
        try await Harness.withControlPlane { workspace, server in
            let tls = try await TLSFixture(workspace: workspace)
            let nginx = try await NginxProxy.start(workspace: workspace, tls: tls, upstreamPort: server.port)
            defer { nginx.stop() }
            let proxy = try await TinyProxy.start(workspace: workspace)
            defer { proxy.stop() }

            let ids = ["proxied-1", "proxied-2"]
            try await server.enqueue(ids.map { ["id": $0, "type": "list_vms"] })
            // AgentRun passes PATH and these only: no NO_PROXY/no_proxy lets libcurl bypass the proxy.
            let run = try await AgentRun.drain(
                config: try workspace.config(url: "https://localhost:\(nginx.port)"), key: server.key,
                environment: ["https_proxy": proxy.url, "HTTPS_PROXY": proxy.url], wrapper: tls.trustWrapper)
            #expect(run.status == 0, "stderr: \(run.stderr)")
            #expect(try await server.allFinished(ids))
            for id in ids {
                #expect(try await server.result(id)["status"] as? String == "succeeded")
            }
            let targets = ["CONNECT localhost:\(nginx.port) ", "CONNECT 127.0.0.1:\(nginx.port) "]
            try await Harness.waitUntil("tinyproxy to log a CONNECT to nginx", timeout: .seconds(10)) {
                targets.contains { proxy.log.contains($0) }
            }
            try await Harness.waitUntil("nginx to log the claims", timeout: .seconds(10)) {
                nginx.posts("/v1/agents/it-agent/jobs/claim") > 0
            }
        }
    }

    @Test("A plain http:// URL to a non-loopback host is refused unless security.allowInsecureHttp")
    func insecureHttpNeedsOptIn() async throws {
        let workspace = try Workspace()
        defer { workspace.tearDown() }
        let url = "http://192.0.2.10:8080"

        let refused = try await AgentRun.checkConfig(config: try workspace.config(url: url), key: "it-key")
        #expect(refused.status == 2, "stdout: \(refused.stdout)\nstderr: \(refused.stderr)")
        let problems = (refused.stdout + refused.stderr).split(separator: "\n").filter {
            $0.contains("error") && $0.contains("controlPlaneUrl")
        }
        #expect(!problems.isEmpty, "stdout: \(refused.stdout)\nstderr: \(refused.stderr)")
        #expect(problems.contains { $0.contains("allowInsecureHttp") }, "problems: \(problems)")

        let allowed = try await AgentRun.checkConfig(
            config: try workspace.config(url: url, extra: ["security": ["allowInsecureHttp": true]]), key: "it-key")
        #expect(allowed.status == 0, "stdout: \(allowed.stdout)\nstderr: \(allowed.stderr)")
        let remaining = (allowed.stdout + allowed.stderr).split(separator: "\n").filter {
            $0.contains("error") && $0.contains("controlPlaneUrl")
        }
        #expect(remaining.isEmpty, "problems: \(remaining)")
    }
}
