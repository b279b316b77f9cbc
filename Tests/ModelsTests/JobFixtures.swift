import Foundation
import Testing

@testable import Models

/// One job of each type and default, as the control plane may send it and as `Job.encode` writes it.
struct JobFixture: Sendable, CustomTestStringConvertible {
    let name: String
    /// The job as sent, optional fields left out.
    let json: String
    /// The job built by hand, every default spelled out.
    let expected: Job
    /// The flat wire form `Job.encode` writes: default booleans and `lines` written explicitly.
    let wire: String

    var testDescription: String { name }

    /// The envelope every fixture shares, before the type and its parameters.
    private static func envelope(_ id: String) -> String {
        #""id": "\#(id)", "attempt": 1, "leaseExpiresAt": "2026-11-27T08:00:30Z""#
    }

    private static func job(_ id: String, timeout: Int? = nil, _ parameters: JobParameters) -> Job {
        Job(id: id, attempt: 1, leaseExpiresAt: leaseTime, timeout: timeout, parameters: parameters)
    }

    static let createVMWithConfig = JobFixture(
        name: "create_vm with a full config",
        json: #"""
            {\#(envelope("job-c1")), "type": "create_vm", "timeout": 600000, "vmName": "my-app",
             "template": "webapp", "config": {"cpus": 2, "memory": 1.5, "disk": 20, "start": false}}
            """#,
        expected: job(
            "job-c1", timeout: 600_000,
            .createVM(
                JobParameters.CreateVM(
                    vmName: "my-app", template: "webapp",
                    config: JobParameters.CreateVM.Config(cpus: 2, memory: 1.5, disk: 20, start: false)))),
        wire: #"""
            {\#(envelope("job-c1")), "type": "create_vm", "timeout": 600000, "vmName": "my-app",
             "template": "webapp", "config": {"cpus": 2, "memory": 1.5, "disk": 20, "start": false}}
            """#)

    static let createVMWithoutConfig = JobFixture(
        name: "create_vm without config",
        json: #"{\#(envelope("job-c2")), "type": "create_vm", "vmName": "api-1", "template": "api"}"#,
        expected: job(
            "job-c2",
            .createVM(
                JobParameters.CreateVM(
                    vmName: "api-1", template: "api",
                    config: JobParameters.CreateVM.Config(cpus: nil, memory: nil, disk: nil, start: true)))),
        wire: #"""
            {\#(envelope("job-c2")), "type": "create_vm", "vmName": "api-1", "template": "api",
             "config": {"start": true}}
            """#)

    static let startVM = JobFixture(
        name: "start_vm",
        json: #"{\#(envelope("job-s1")), "type": "start_vm", "vmName": "my-app"}"#,
        expected: job("job-s1", .startVM(JobParameters.VMTarget(vmName: "my-app"))),
        wire: #"{\#(envelope("job-s1")), "type": "start_vm", "vmName": "my-app"}"#)

    static let stopVM = JobFixture(
        name: "stop_vm without force",
        json: #"{\#(envelope("job-s2")), "type": "stop_vm", "vmName": "my-app"}"#,
        expected: job("job-s2", .stopVM(JobParameters.StopVM(vmName: "my-app", force: false))),
        wire: #"{\#(envelope("job-s2")), "type": "stop_vm", "vmName": "my-app", "force": false}"#)

    static let stopVMForced = JobFixture(
        name: "stop_vm with force",
        json: #"{\#(envelope("job-s3")), "type": "stop_vm", "vmName": "my-app", "force": true}"#,
        expected: job("job-s3", .stopVM(JobParameters.StopVM(vmName: "my-app", force: true))),
        wire: #"{\#(envelope("job-s3")), "type": "stop_vm", "vmName": "my-app", "force": true}"#)

    static let restartVM = JobFixture(
        name: "restart_vm",
        json: #"{\#(envelope("job-r1")), "type": "restart_vm", "vmName": "my-app"}"#,
        expected: job("job-r1", .restartVM(JobParameters.VMTarget(vmName: "my-app"))),
        wire: #"{\#(envelope("job-r1")), "type": "restart_vm", "vmName": "my-app"}"#)

    static let deleteVM = JobFixture(
        name: "delete_vm without force",
        json: #"{\#(envelope("job-d1")), "type": "delete_vm", "vmName": "my-app"}"#,
        expected: job("job-d1", .deleteVM(JobParameters.DeleteVM(vmName: "my-app", force: false))),
        wire: #"{\#(envelope("job-d1")), "type": "delete_vm", "vmName": "my-app", "force": false}"#)

    static let deleteVMForced = JobFixture(
        name: "delete_vm with force",
        json: #"{\#(envelope("job-d2")), "type": "delete_vm", "vmName": "my-app", "force": true}"#,
        expected: job("job-d2", .deleteVM(JobParameters.DeleteVM(vmName: "my-app", force: true))),
        wire: #"{\#(envelope("job-d2")), "type": "delete_vm", "vmName": "my-app", "force": true}"#)

    static let executeShell = JobFixture(
        name: "execute_command with a shell command",
        json: #"""
            {\#(envelope("job-e1")), "type": "execute_command", "vmName": "my-app", "command": "ls -la",
             "timeout": 30000}
            """#,
        expected: job(
            "job-e1", timeout: 30_000,
            .executeCommand(
                JobParameters.ExecuteCommand(vmName: "my-app", command: .shell("ls -la"), workdir: nil, env: [:]))),
        wire: #"""
            {\#(envelope("job-e1")), "type": "execute_command", "vmName": "my-app", "command": "ls -la",
             "timeout": 30000}
            """#)

    static let executeArgv = JobFixture(
        name: "execute_command with argv, workdir and env",
        json: #"""
            {\#(envelope("job-e2")), "type": "execute_command", "vmName": "my-app",
             "argv": ["ls", "-la", "/srv/app"], "workdir": "/srv/app",
             "env": {"APP_ENV": "production", "_DEBUG1": "0"}}
            """#,
        expected: job(
            "job-e2",
            .executeCommand(
                JobParameters.ExecuteCommand(
                    vmName: "my-app", command: .argv(["ls", "-la", "/srv/app"]), workdir: "/srv/app",
                    env: ["APP_ENV": "production", "_DEBUG1": "0"]))),
        wire: #"""
            {\#(envelope("job-e2")), "type": "execute_command", "vmName": "my-app",
             "argv": ["ls", "-la", "/srv/app"], "workdir": "/srv/app",
             "env": {"APP_ENV": "production", "_DEBUG1": "0"}}
            """#)

    static let getVMInfo = JobFixture(
        name: "get_vm_info",
        json: #"{\#(envelope("job-g1")), "type": "get_vm_info", "vmName": "ubuntu-24.04"}"#,
        expected: job("job-g1", .getVMInfo(JobParameters.VMTarget(vmName: "ubuntu-24.04"))),
        wire: #"{\#(envelope("job-g1")), "type": "get_vm_info", "vmName": "ubuntu-24.04"}"#)

    static let listVMs = JobFixture(
        name: "list_vms",
        json: #"{\#(envelope("job-l1")), "type": "list_vms"}"#,
        expected: job("job-l1", .listVMs),
        wire: #"{\#(envelope("job-l1")), "type": "list_vms"}"#)

    static let backupVM = JobFixture(
        name: "backup_vm without stopIfRunning",
        json: #"""
            {\#(envelope("job-b1")), "type": "backup_vm", "vmName": "my-app", "backupPath": "my-app-2026-11-27.tar.gz"}
            """#,
        expected: job(
            "job-b1",
            .backupVM(
                JobParameters.BackupVM(vmName: "my-app", backupPath: "my-app-2026-11-27.tar.gz", stopIfRunning: true))),
        wire: #"""
            {\#(envelope("job-b1")), "type": "backup_vm", "vmName": "my-app", "backupPath": "my-app-2026-11-27.tar.gz",
             "stopIfRunning": true}
            """#)

    static let backupVMRunning = JobFixture(
        name: "backup_vm with stopIfRunning false",
        json: #"""
            {\#(envelope("job-b2")), "type": "backup_vm", "vmName": "my-app", "backupPath": "nightly/my-app.tar.gz",
             "stopIfRunning": false}
            """#,
        expected: job(
            "job-b2",
            .backupVM(
                JobParameters.BackupVM(vmName: "my-app", backupPath: "nightly/my-app.tar.gz", stopIfRunning: false))),
        wire: #"""
            {\#(envelope("job-b2")), "type": "backup_vm", "vmName": "my-app", "backupPath": "nightly/my-app.tar.gz",
             "stopIfRunning": false}
            """#)

    static let restoreVM = JobFixture(
        name: "restore_vm without start",
        json: #"""
            {\#(envelope("job-t1")), "type": "restore_vm", "backupPath": "my-app-2026-11-27.tar.gz",
             "vmName": "my-app-restored"}
            """#,
        expected: job(
            "job-t1",
            .restoreVM(
                JobParameters.RestoreVM(
                    backupPath: "my-app-2026-11-27.tar.gz", vmName: "my-app-restored", start: false))),
        wire: #"""
            {\#(envelope("job-t1")), "type": "restore_vm", "backupPath": "my-app-2026-11-27.tar.gz",
             "vmName": "my-app-restored", "start": false}
            """#)

    static let restoreVMStarted = JobFixture(
        name: "restore_vm with start",
        json: #"""
            {\#(envelope("job-t2")), "type": "restore_vm", "backupPath": "my-app-2026-11-27.tar.gz",
             "vmName": "my-app-restored", "start": true}
            """#,
        expected: job(
            "job-t2",
            .restoreVM(
                JobParameters.RestoreVM(
                    backupPath: "my-app-2026-11-27.tar.gz", vmName: "my-app-restored", start: true))),
        wire: #"""
            {\#(envelope("job-t2")), "type": "restore_vm", "backupPath": "my-app-2026-11-27.tar.gz",
             "vmName": "my-app-restored", "start": true}
            """#)

    static let collectLogs = JobFixture(
        name: "collect_logs without lines",
        json: #"{\#(envelope("job-o1")), "type": "collect_logs", "vmName": "my-app"}"#,
        expected: job("job-o1", .collectLogs(JobParameters.CollectLogs(vmName: "my-app", lines: 200))),
        wire: #"{\#(envelope("job-o1")), "type": "collect_logs", "vmName": "my-app", "lines": 200}"#)

    static let collectLogsLines = JobFixture(
        name: "collect_logs with lines",
        json: #"{\#(envelope("job-o2")), "type": "collect_logs", "vmName": "my-app", "lines": 50}"#,
        expected: job("job-o2", .collectLogs(JobParameters.CollectLogs(vmName: "my-app", lines: 50))),
        wire: #"{\#(envelope("job-o2")), "type": "collect_logs", "vmName": "my-app", "lines": 50}"#)

    static let all: [JobFixture] = [
        createVMWithConfig, createVMWithoutConfig, startVM, stopVM, stopVMForced, restartVM, deleteVM,
        deleteVMForced, executeShell, executeArgv, getVMInfo, listVMs, backupVM, backupVMRunning, restoreVM,
        restoreVMStarted, collectLogs, collectLogsLines,
    ]
}
