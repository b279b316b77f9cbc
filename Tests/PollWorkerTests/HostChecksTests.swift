import Foundation
import Models
import Testing

@testable import PollWorker

private let root = UserAccount(name: "root", uid: 0, gid: 0, home: "/root")
private let agent = UserAccount(name: "agent", uid: 1000, gid: 1000, home: "/home/agent")
private let limahost = UserAccount(name: "limahost", uid: 1001, gid: 1001, home: "/home/limahost")

/// Host checks on a pretend host: `users` by name, the agent running as `current`.
private func host(
    root isRoot: Bool, current: UserAccount, users: [String: UserAccount] = ["limahost": limahost],
    limactl: String? = "/usr/local/bin/limactl"
) -> HostChecks {
    HostChecks(
        effectiveUserIsRoot: isRoot, lookupUser: { users[$0] }, currentUser: { current },
        executableOnPath: { _ in limactl })
}

private func config(limaUser: String?) -> AgentConfig {
    var config = AgentConfig(agentId: "host-1", agentName: "host-1")
    config.limaUser = limaUser
    return config
}

@Suite("HostChecks")
struct HostChecksTests {
    @Test("Root without limaUser is a host problem on limaUser")
    func rootWithoutLimaUser() {
        let problems = host(root: true, current: root).problems(config(limaUser: nil))
        #expect(
            problems == [
                ConfigProblem(
                    .host, "limaUser",
                    "required when the agent runs as root: limactl refuses root, so set an unprivileged user")
            ])
    }

    @Test("Root with an existing unprivileged limaUser is fine")
    func rootWithLimaUser() {
        #expect(host(root: true, current: root).problems(config(limaUser: "limahost")).isEmpty)
    }

    @Test("A limaUser that does not exist is a host problem")
    func unknownUser() {
        let problems = host(root: true, current: root).problems(config(limaUser: "ghost"))
        #expect(problems == [ConfigProblem(.host, "limaUser", "no user named \"ghost\" on this host")])
    }

    @Test("A limaUser resolving to uid 0 is a configuration error")
    func limaUserIsRoot() {
        let checks = host(
            root: true, current: root, users: ["toor": UserAccount(name: "toor", uid: 0, gid: 0, home: "/")])
        #expect(
            checks.problems(config(limaUser: "toor")) == [
                ConfigProblem(.error, "limaUser", "must not be root: limactl refuses to run as root")
            ])
    }

    @Test("A non-root agent cannot run limactl as another user")
    func nonRootOtherUser() {
        let problems = host(root: false, current: agent).problems(config(limaUser: "limahost"))
        #expect(
            problems == [
                ConfigProblem(
                    .host, "limaUser", "the agent runs as agent, not root, so it cannot run limactl as limahost")
            ])
    }

    @Test("A non-root agent may name itself as limaUser, or leave it unset")
    func nonRootSameUser() {
        let checks = host(root: false, current: agent, users: ["agent": agent])
        #expect(checks.problems(config(limaUser: "agent")).isEmpty)
        #expect(checks.problems(config(limaUser: nil)).isEmpty)
    }

    @Test("limactl not found is only a warning")
    func limactlMissing() {
        let problems = host(root: false, current: agent, limactl: nil).problems(config(limaUser: nil))
        #expect(
            problems == [
                ConfigProblem(
                    .warning, "limactlPath",
                    "limactl is not an executable here; jobs will fail with limactl_unavailable")
            ])
    }

    @Test("limactl runs as limaUser when it is set, else as the agent's own user")
    func limaAccount() {
        let checks = host(root: true, current: root)
        #expect(checks.limaAccount(config(limaUser: "limahost")) == limahost)
        #expect(checks.limaAccount(config(limaUser: "ghost")) == nil)
        #expect(checks.limaAccount(config(limaUser: nil)) == root)
    }
}

@Suite("EffectiveConfigReport")
struct EffectiveConfigReportTests {
    private let key = "sk-report-0005"

    private func load(_ environment: [String: String] = [:]) -> ConfigLoadResult {
        let file = """
            {"controlPlaneUrl": "https://cp.example.com", "controlPlaneApiKey": "\(key)", "limaUser": "limahost"}
            """
        return memoryLoader([ConfigSources.defaultPath: file]).load(configSources(environment: environment))
    }

    @Test("The report redacts the key, names its source and says configuration OK")
    func okReport() {
        let report = EffectiveConfigReport.render(load(), hostProblems: [])
        #expect(!report.contains(key))
        #expect(report.contains("\"\(Secret.marker)\""))
        #expect(report.contains("# configuration file: /etc/limahost/agent.json\n"))
        #expect(report.contains("# API key from: controlPlaneApiKey in /etc/limahost/agent.json\n"))
        #expect(report.hasSuffix("configuration OK\n"))
    }

    @Test("A key from the environment is redacted too and its source named")
    func environmentKeyReport() {
        let report = EffectiveConfigReport.render(
            load([ConfigSources.apiKeyVariable: "sk-env-report-0006"]), hostProblems: [])
        #expect(!report.contains("sk-env-report-0006"))
        #expect(!report.contains(key))
        #expect(report.contains("# API key from: environment LIMAHOST_API_KEY\n"))
    }

    @Test("Host problems are listed and OK says they must be fixed")
    func hostProblemsReport() {
        let problems = host(root: true, current: root, users: [:]).problems(load().config)
        let report = EffectiveConfigReport.render(load(), hostProblems: problems)
        #expect(report.contains("host: limaUser: no user named \"limahost\" on this host\n"))
        #expect(
            report.hasSuffix(
                "configuration OK; 1 host check(s) above must be fixed before the agent will start\n"))
    }

    @Test("Errors are listed and counted")
    func errorReport() {
        let result = load([ConfigSources.controlPlaneVariable: "ftp://cp.example.com"])
        let report = EffectiveConfigReport.render(result, hostProblems: [])
        #expect(
            report.contains(
                "error: controlPlaneUrl: must use https:// (or http:// to a loopback host), got \"ftp://\"\n"))
        #expect(report.hasSuffix("1 configuration error(s)\n"))
        #expect(!report.contains("configuration OK"))
    }
}
