import Foundation
import Logging
import Models
import Testing

@testable import PollWorker

private typealias ExecuteCommand = JobParameters.ExecuteCommand

private let limaAccount = UserAccount(name: "limahost", uid: 1001, gid: 1001, home: "/home/limahost")
private let limactlPath = "/usr/local/bin/limactl"
private let globalFlags = ["--tty=false", "--log-format=json"]

/// A `CommandRunner` that records every spec and answers from a script.
private struct ScriptedRunner: CommandRunner {
    let calls = Collected<CommandSpec>()
    let respond: @Sendable (CommandSpec) -> CommandOutcome

    func run(_ spec: CommandSpec) async -> CommandOutcome {
        calls.append(spec)
        return respond(spec)
    }
}

private func executor(
    _ runner: ScriptedRunner, executable: String? = limactlPath,
    config: AgentConfig = AgentConfig(agentId: "host-1", agentName: "host-1")
) -> JobExecutor {
    let limactl = Limactl(
        runner: runner, executable: executable, account: limaAccount, environment: ["PATH": "/usr/bin"],
        maxOutputBytes: 65_536)
    return JobExecutor(
        limactl: limactl, config: config, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
        now: { fixedNow })
}

private func job(_ parameters: JobParameters, timeout: Int? = nil) -> Job {
    Job(id: "job-1", attempt: 1, leaseExpiresAt: fixedNow, timeout: timeout, parameters: parameters)
}

@Suite("JobExecutor: limactl arguments and limits")
struct JobExecutorStaticTests {
    @Test("A command string runs through the guest's sh -c")
    func shellCommand() {
        let parameters = ExecuteCommand(vmName: "my-app", command: .shell("ls -la"))
        #expect(JobExecutor.shellArguments(parameters) == ["shell", "my-app", "--", "sh", "-c", "ls -la"])
    }

    @Test("The workdir is a flag before the instance name")
    func workdir() {
        let parameters = ExecuteCommand(vmName: "my-app", command: .shell("ls -la"), workdir: "/srv")
        #expect(
            JobExecutor.shellArguments(parameters)
                == ["shell", "--workdir=/srv", "my-app", "--", "sh", "-c", "ls -la"])
    }

    @Test("Environment variables go through env, sorted, right before the command's words")
    func environment() {
        let parameters = ExecuteCommand(vmName: "my-app", command: .shell("ls -la"), env: ["B": "2", "A": "1"])
        // GNU env takes NAME=VALUE words up to the first word without `=`: no `--` after them,
        // or env would try to run a program named `--`.
        #expect(
            JobExecutor.shellArguments(parameters)
                == ["shell", "my-app", "--", "env", "A=1", "B=2", "sh", "-c", "ls -la"])
    }

    @Test("Environment variables come before an argv, whose later NAME=VALUE words stay arguments")
    func environmentWithArgv() {
        let parameters = ExecuteCommand(
            vmName: "my-app", command: .argv(["printenv", "X=1"]), workdir: "/srv", env: ["A": "1"])
        #expect(
            JobExecutor.shellArguments(parameters)
                == ["shell", "--workdir=/srv", "my-app", "--", "env", "A=1", "printenv", "X=1"])
    }

    @Test("argv is passed exactly as given")
    func argv() {
        let words = ["printf", "%s\\n", "a b", "$HOME", "it's", ""]
        let parameters = ExecuteCommand(vmName: "my-app", command: .argv(words))
        #expect(JobExecutor.shellArguments(parameters) == ["shell", "my-app", "--"] + words)
    }

    @Test("An argv whose first word holds = is rejected at decoding, so limactl never half-quotes it")
    func argvWithAssignmentFirst() throws {
        let text = """
            {"id": "job-9", "attempt": 1, "type": "execute_command", "leaseExpiresAt": "2026-11-27T08:00:30Z",
             "vmName": "my-app", "argv": ["FOO=$(id)", "printenv", "FOO"]}
            """
        let value = try WireJSON.decoder().decode(JSONValue.self, from: Data(text.utf8))
        let expected = JobDecoding.invalid(
            JobRejection(
                id: "job-9", attempt: 1, type: "execute_command",
                error: JobValidationError(field: "argv[0]", reason: "a program name must not contain =")))
        #expect(JobDecoder.decode(value) == expected)
    }

    @Test("Each job type has its default timeout")
    func defaultTimeouts() {
        #expect(JobExecutor.defaultTimeout(.createVM) == 600_000)
        #expect(JobExecutor.defaultTimeout(.startVM) == 600_000)
        #expect(JobExecutor.defaultTimeout(.restartVM) == 600_000)
        #expect(JobExecutor.defaultTimeout(.stopVM) == 240_000)
        #expect(JobExecutor.defaultTimeout(.deleteVM) == 240_000)
        #expect(JobExecutor.defaultTimeout(.executeCommand) == 30_000)
        #expect(JobExecutor.defaultTimeout(.getVMInfo) == 30_000)
        #expect(JobExecutor.defaultTimeout(.listVMs) == 30_000)
    }

    @Test("GiB figures are written as limactl's flags take them")
    func flagNumbers() {
        #expect(JobExecutor.flagNumber(2) == "2")
        #expect(JobExecutor.flagNumber(1.5) == "1.5")
        #expect(JobExecutor.flagNumber(16) == "16")
        #expect(JobExecutor.flagNumber(0.25) == "0.25")
    }

    @Test("A job's timeout is capped by security.maxCommandTimeout and defaults per type")
    func timeoutForJob() {
        let runner = ScriptedRunner(respond: { _ in CommandOutcome(termination: .exited(0)) })
        let subject = executor(runner)
        let target = JobParameters.VMTarget(vmName: "dev")
        #expect(subject.timeout(for: job(.startVM(target), timeout: 10_000_000)) == .milliseconds(300_000))
        #expect(subject.timeout(for: job(.startVM(target), timeout: 5_000)) == .seconds(5))
        #expect(subject.timeout(for: job(.startVM(target))) == .seconds(600))
        #expect(subject.timeout(for: job(.listVMs)) == .seconds(30))
    }

    @Test("The advertised job types are every type of §4.2")
    func supportedTypes() {
        #expect(
            JobExecutor.supportedTypes == [
                .createVM, .startVM, .stopVM, .restartVM, .deleteVM, .executeCommand, .getVMInfo, .listVMs,
                .backupVM, .restoreVM, .collectLogs,
            ])
    }
}

@Suite("JobExecutor: running jobs through a scripted limactl")
struct JobExecutorRunTests {
    @Test("execute_command runs limactl shell and reports its output and exit code")
    func executeSucceeds() async throws {
        let runner = ScriptedRunner(respond: { _ in
            CommandOutcome(termination: .exited(0), stdout: Data("up 3 days\n".utf8))
        })
        let parameters = ExecuteCommand(vmName: "my-app", command: .shell("uptime"), workdir: "/srv")
        let result = await executor(runner).execute(job(.executeCommand(parameters)))

        #expect(result.status == .succeeded)
        #expect(result.error == nil)
        #expect(result.type == "execute_command")
        #expect(result.stdout == "up 3 days\n")
        #expect(result.stderr == "")
        #expect(result.exitCode == 0)
        #expect(result.outputTruncated == false)
        let exitData: JSONValue = .object(["exitCode": .int(0)])
        #expect(result.data == exitData)
        #expect(result.startedAt == fixedNow)
        #expect(result.finishedAt == fixedNow)
        #expect(result.duration == 0)

        let calls = runner.calls.all
        #expect(calls.count == 1)
        let spec = try #require(calls.first)
        #expect(spec.executable == limactlPath)
        #expect(spec.arguments == globalFlags + ["shell", "--workdir=/srv", "my-app", "--", "sh", "-c", "uptime"])
        #expect(spec.environment == ["PATH": "/usr/bin"])
        #expect(spec.workingDirectory == "/home/limahost")
        #expect(spec.account == limaAccount)
        #expect(spec.maxOutputBytes == 65_536)
        #expect(spec.timeout <= Duration.seconds(30))
    }

    @Test("Exit 1 with a limactl fatal line is limactl's failure, not the guest's exit code")
    func executeOnMissingVM() async {
        let stderr =
            #"{"level":"fatal","msg":"instance `my-app` does not exist, run `limactl create my-app` to create a new instance","time":"2026-11-27T08:00:30Z"}"#
        let runner = ScriptedRunner(respond: { _ in
            CommandOutcome(termination: .exited(1), stderr: Data((stderr + "\n").utf8))
        })
        let parameters = ExecuteCommand(vmName: "my-app", command: .shell("uptime"))
        let result = await executor(runner).execute(job(.executeCommand(parameters)))

        #expect(result.status == .failed)
        #expect(
            result.error
                == WireError(
                    code: .vmNotFound,
                    message: "instance `my-app` does not exist, run `limactl create my-app` to create a new instance"))
        #expect(result.exitCode == nil)
    }

    @Test("A guest's non-zero exit fails with command_failed and keeps the exit code and output")
    func executeNonZero() async {
        let runner = ScriptedRunner(respond: { _ in
            CommandOutcome(termination: .exited(3), stderr: Data("oops\n".utf8))
        })
        let parameters = ExecuteCommand(vmName: "my-app", command: .argv(["false"]))
        let result = await executor(runner).execute(job(.executeCommand(parameters)))

        #expect(result.status == .failed)
        #expect(result.error == WireError(code: ErrorCode("command_failed"), message: "the command exited with code 3"))
        #expect(result.exitCode == 3)
        #expect(result.stderr == "oops\n")
        let exitData: JSONValue = .object(["exitCode": .int(3)])
        #expect(result.data == exitData)
    }

    @Test("A command past its deadline ends timed_out")
    func executeTimesOut() async {
        let runner = ScriptedRunner(respond: { _ in CommandOutcome(termination: .signaled(9), timedOut: true) })
        let parameters = ExecuteCommand(vmName: "my-app", command: .shell("sleep 600"))
        let result = await executor(runner).execute(job(.executeCommand(parameters)))
        #expect(result.status == .timedOut)
        #expect(result.error?.code == .timeout)
    }

    @Test("Without limactl a job fails limactl_unavailable and nothing runs")
    func noLimactl() async {
        let runner = ScriptedRunner(respond: { _ in CommandOutcome(termination: .exited(0)) })
        let parameters = ExecuteCommand(vmName: "my-app", command: .shell("uptime"))
        let result = await executor(runner, executable: nil).execute(job(.executeCommand(parameters)))
        #expect(result.status == .failed)
        #expect(result.error?.code == .limactlUnavailable)
        #expect(runner.calls.all.isEmpty)
    }

    @Test("get_vm_info reads the VM from limactl list --json")
    func getVMInfo() async throws {
        let runner = ScriptedRunner(respond: { _ in
            CommandOutcome(termination: .exited(0), stdout: Data((ListLines.runningWeb + "\n").utf8))
        })
        let result = await executor(runner).execute(job(.getVMInfo(JobParameters.VMTarget(vmName: "web"))))
        let expected = try JSONValue(encoding: ListLines.runningWebInfo)
        #expect(result.status == .succeeded)
        #expect(result.data == expected)
        #expect(runner.calls.all.map(\.arguments) == [globalFlags + ["list", "--json", "web"]])
    }

    @Test("get_vm_info on a missing VM is vm_not_found")
    func getVMInfoMissing() async {
        let runner = ScriptedRunner(respond: { _ in
            CommandOutcome(
                termination: .exited(1),
                stderr: Data(#"{"level":"fatal","msg":"unmatched instances","time":"2026-11-27T08:00:30Z"}"#.utf8))
        })
        let result = await executor(runner).execute(job(.getVMInfo(JobParameters.VMTarget(vmName: "ghost"))))
        #expect(result.status == .failed)
        #expect(result.error == WireError(code: .vmNotFound, message: "unmatched instances"))
    }

    @Test("list_vms reports every VM limactl lists")
    func listVMs() async throws {
        let runner = ScriptedRunner(respond: { _ in
            let text = ListLines.stoppedDev + "\n" + ListLines.runningWeb + "\n"
            return CommandOutcome(termination: .exited(0), stdout: Data(text.utf8))
        })
        let result = await executor(runner).execute(job(.listVMs))
        #expect(result.status == .succeeded)
        let expected = try JSONValue(
            encoding: ResultData.VMList(vms: [ListLines.stoppedDevInfo, ListLines.runningWebInfo]))
        #expect(result.data == expected)
        #expect(runner.calls.all.map(\.arguments) == [globalFlags + ["list", "--json"]])
    }

    @Test("delete_vm with force runs limactl delete -f and reports the name")
    func deleteVM() async {
        let runner = ScriptedRunner(respond: { _ in CommandOutcome(termination: .exited(0)) })
        let result = await executor(runner).execute(
            job(.deleteVM(JobParameters.DeleteVM(vmName: "web", force: true))))
        #expect(result.status == .succeeded)
        let deletedData: JSONValue = .object(["deleted": .string("web")])
        #expect(result.data == deletedData)
        #expect(runner.calls.all.map(\.arguments) == [globalFlags + ["delete", "-f", "web"]])
    }

    @Test("backup_vm of a VM limactl does not list fails vm_not_found after one limactl list")
    func backupUnknownVM() async {
        let runner = ScriptedRunner(respond: { _ in CommandOutcome(termination: .exited(0)) })
        let result = await executor(runner).execute(
            job(.backupVM(JobParameters.BackupVM(vmName: "web", backupPath: "web.tar"))))
        #expect(result.status == .failed)
        #expect(result.error?.code == .vmNotFound)
        #expect(runner.calls.all.map(\.arguments) == [globalFlags + ["list", "--json", "web"]])
    }

    @Test("backup_vm with a backupPath outside backupDir is refused by policy first")
    func backupOutsideBackupDir() async {
        let runner = ScriptedRunner(respond: { _ in CommandOutcome(termination: .exited(0)) })
        let result = await executor(runner).execute(
            job(.backupVM(JobParameters.BackupVM(vmName: "web", backupPath: "/var/backups/web.tar"))))
        #expect(result.status == .rejected)
        #expect(result.error?.code == .policyDenied)
        #expect(result.error?.message.contains("backupDir") == true)
        #expect(runner.calls.all.isEmpty)
    }

    @Test("create_vm with a template outside allowedVmTemplates or with a path is refused before limactl runs")
    func createWithBadTemplate() async {
        let runner = ScriptedRunner(respond: { _ in CommandOutcome(termination: .exited(0)) })
        for template in ["custom", "../etc/passwd", ".hidden"] {
            let result = await executor(runner).execute(
                job(.createVM(JobParameters.CreateVM(vmName: "web", template: template))))
            #expect(result.status == .rejected)
            #expect(result.error?.code == .policyDenied)
        }
        #expect(runner.calls.all.isEmpty)
    }
}
