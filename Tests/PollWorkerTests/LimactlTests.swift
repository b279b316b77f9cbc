import Foundation
import Models
import Testing

@testable import PollWorker

private let missingFooMessage =
    "instance `foo` does not exist, run `limactl create foo` to create a new instance"

/// limactl's stderr with `--log-format=json`: an info line, then the fatal one.
private let missingFooStderr = """
    {"level":"info","msg":"Using the existing instance","time":"2026-11-27T08:00:29Z"}
    {"level":"fatal","msg":"instance `foo` does not exist, run `limactl create foo` to create a new instance","time":"2026-11-27T08:00:30Z"}

    """

private func outcome(_ termination: CommandOutcome.Termination, stderr: String = "") -> CommandOutcome {
    CommandOutcome(termination: termination, stderr: Data(stderr.utf8))
}

@Suite("Limactl: reading limactl's errors")
struct LimactlErrorTests {
    @Test("The fatal message is found in JSON log lines")
    func fatalFromJSON() {
        #expect(Limactl.fatalMessage(missingFooStderr) == missingFooMessage)
    }

    @Test("The plain root refusal is found")
    func fatalRootRefusal() {
        #expect(Limactl.fatalMessage("limactl: must not run as the root user\n") == "must not run as the root user")
    }

    @Test("No fatal line means no message")
    func noFatal() {
        #expect(Limactl.fatalMessage("") == nil)
        #expect(Limactl.fatalMessage("ls: cannot access '/nope': No such file or directory\n") == nil)
        #expect(
            Limactl.fatalMessage(
                #"{"level":"warning","msg":"Ignoring non-existent instance `foo`","time":"2026-11-27T08:00:30Z"}"#)
                == nil)
        #expect(Limactl.fatalMessage("{not json at all\n") == nil)
    }

    @Test("Error messages map to the wire's codes")
    func errorCodes() {
        #expect(Limactl.errorCode(forMessage: missingFooMessage) == .vmNotFound)
        #expect(
            Limactl.errorCode(forMessage: "open /x/.lima/foo/lima.yaml: no such file or directory") == .vmNotFound)
        #expect(Limactl.errorCode(forMessage: "instance `foo` already exists (`/x`)") == .vmExists)
        #expect(Limactl.errorCode(forMessage: "must not run as the root user") == .limactlUnavailable)
        #expect(Limactl.errorCode(forMessage: "unmatched instances") == .vmNotFound)
        #expect(Limactl.errorCode(forMessage: "Instance `foo` not found") == .vmNotFound)
        #expect(
            Limactl.errorCode(forMessage: "expected status `Running`, got `Stopped` (maybe use `limactl stop -f`?)")
                == .limactlFailed)
        #expect(
            Limactl.errorCode(forMessage: "did not receive an event with the `running` status") == .limactlFailed)
        #expect(Limactl.errorCode(forMessage: "") == .limactlFailed)
    }

    @Test("A timed-out run is a timed_out job error")
    func failureTimedOut() {
        let result = Limactl.failure(
            CommandOutcome(termination: .signaled(9), timedOut: true), action: "limactl start")
        #expect(result == JobError.timedOut("limactl start did not finish before the job's deadline"))
        #expect(result?.status == .timedOut)
        #expect(result?.code == .timeout)
    }

    @Test("A cancelled run is a cancelled job error")
    func failureCancelled() {
        let result = Limactl.failure(
            CommandOutcome(termination: .signaled(15), cancelled: true), action: "limactl start")
        #expect(result == JobError.cancelled("limactl start was cancelled"))
    }

    @Test("limactl that could not start is limactl_unavailable")
    func failureNotStarted() {
        let result = Limactl.failure(outcome(.notStarted("limactl was not found")), action: "limactl stop")
        #expect(result == JobError.failed(.limactlUnavailable, "limactl could not be started: limactl was not found"))
    }

    @Test("Exit 1 with a fatal line is that message with its mapped code")
    func failureFatal() {
        let result = Limactl.failure(outcome(.exited(1), stderr: missingFooStderr), action: "limactl stop")
        #expect(result == JobError.failed(.vmNotFound, missingFooMessage))
    }

    @Test("Exit 1 from the root refusal is limactl_unavailable")
    func failureRoot() {
        let result = Limactl.failure(
            outcome(.exited(1), stderr: "limactl: must not run as the root user\n"), action: "limactl list")
        #expect(result == JobError.failed(.limactlUnavailable, "must not run as the root user"))
    }

    @Test("A non-zero exit without a fatal line quotes stderr's last line")
    func failureWithoutFatal() {
        let result = Limactl.failure(outcome(.exited(2), stderr: "panic: boom\ngoroutine 1\n"), action: "limactl stop")
        #expect(result == JobError.failed(.limactlFailed, "limactl stop: limactl exited 2: goroutine 1"))
        let silent = Limactl.failure(outcome(.exited(3)), action: "limactl stop")
        #expect(silent == JobError.failed(.limactlFailed, "limactl stop: limactl exited 3"))
    }

    @Test("A signal is limactl_failed")
    func failureSignal() {
        let result = Limactl.failure(outcome(.signaled(11)), action: "limactl start")
        #expect(result == JobError.failed(.limactlFailed, "limactl start: limactl was killed by signal 11"))
    }

    @Test("Exit 0 is no failure, whatever stderr says")
    func noFailure() {
        #expect(Limactl.failure(outcome(.exited(0), stderr: missingFooStderr), action: "limactl start") == nil)
    }
}

@Suite("Limactl: the child's environment")
struct LimactlEnvironmentTests {
    private let account = UserAccount(name: "limahost", uid: 1001, gid: 1001, home: "/home/limahost")

    @Test("Only PATH, identity, LIMA_HOME, LANG, proxies and LIMA_* knobs reach limactl")
    func childEnvironment() {
        let inherited = [
            "PATH": "/tmp/evil",
            "HOME": "/root",
            "USER": "root",
            "https_proxy": "http://proxy.internal:3128",
            "NO_PROXY": "localhost",
            "LIMA_TEMPLATES_PATH": "/srv/lima-templates",
            "LIMA_HOME": "/wrong/lima",
            "LIMA_AGENT_CONFIG": "/etc/limahost/agent.json",
            "LIMAHOST_API_KEY": "sk-live-123456",
            "SECRET_TOKEN": "hunter2",
        ]
        let environment = Limactl.childEnvironment(
            limaHome: "/home/limahost/.lima", account: account, executable: "/opt/lima/bin/limactl",
            inherited: inherited)
        #expect(
            environment == [
                "PATH": "/opt/lima/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin",
                "HOME": "/home/limahost",
                "USER": "limahost",
                "LOGNAME": "limahost",
                "LIMA_HOME": "/home/limahost/.lima",
                "LANG": "C.UTF-8",
                "https_proxy": "http://proxy.internal:3128",
                "NO_PROXY": "localhost",
                "LIMA_TEMPLATES_PATH": "/srv/lima-templates",
            ])
        #expect(environment["SECRET_TOKEN"] == nil)
        #expect(environment["LIMA_AGENT_CONFIG"] == nil)
        #expect(environment["LIMAHOST_API_KEY"] == nil)
    }

    @Test("Without an executable path PATH is the fixed default")
    func defaultPath() {
        let environment = Limactl.childEnvironment(
            limaHome: "/home/limahost/.lima", account: account, executable: nil, inherited: [:])
        #expect(environment["PATH"] == "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin")
    }

    @Test("~ expands against the account's home")
    func expandHome() {
        #expect(Limactl.expandHome("~/.lima", home: "/home/u") == "/home/u/.lima")
        #expect(Limactl.expandHome("~", home: "/home/u") == "/home/u")
        #expect(Limactl.expandHome("/srv/lima", home: "/home/u") == "/srv/lima")
        #expect(Limactl.expandHome("~other/lima", home: "/home/u") == "~other/lima")
    }
}

@Suite("LimactlListEntry")
struct LimactlListEntryTests {
    @Test("JSON Lines become VMs, sizes from memory and disk, and a garbage line is skipped")
    func parseLines() {
        let text = [ListLines.stoppedDev, "this is not JSON", ListLines.runningWeb, #"{"notAnInstance":true}"#, ""]
            .joined(separator: "\n")
        let vms = LimactlListEntry.parse(text).map(\.vmInfo)
        #expect(vms == [ListLines.stoppedDevInfo, ListLines.runningWebInfo])
        #expect(vms.first?.memoryBytes == 4_294_967_296)
        #expect(vms.first?.diskBytes == 107_374_182_400)
        #expect(vms.last?.memoryBytes == 2_147_483_648)
        #expect(vms.last?.diskBytes == 21_474_836_480)
    }

    @Test("A running instance's driver PID is read")
    func driverPID() {
        let entries = LimactlListEntry.parse(ListLines.runningWeb)
        #expect(entries.count == 1)
        #expect(entries.first?.driverPID == 4243)
    }

    @Test("Empty output is no VMs")
    func empty() {
        #expect(LimactlListEntry.parse("").isEmpty)
    }
}
