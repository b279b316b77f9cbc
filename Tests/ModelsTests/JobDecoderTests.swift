import Foundation
import Testing

@testable import Models

@Suite("Jobs: each type with its parameters and defaults")
struct JobDecoderTests {
    @Test("A create_vm job decodes with its config")
    func createVMWithConfig() throws {
        #expect(try validJob(JobFixture.createVMWithConfig.json) == JobFixture.createVMWithConfig.expected)
    }

    @Test("A create_vm job without config gets no sizes and starts the VM")
    func createVMWithoutConfig() throws {
        #expect(try validJob(JobFixture.createVMWithoutConfig.json) == JobFixture.createVMWithoutConfig.expected)
    }

    @Test("A create_vm config without start still starts the VM")
    func createVMConfigWithoutStart() throws {
        let job = try validJob(
            #"""
            {"id": "job-c3", "attempt": 1, "leaseExpiresAt": "2026-11-27T08:00:30Z", "type": "create_vm",
             "vmName": "my-app", "template": "webapp", "config": {"cpus": 4}}
            """#)
        #expect(
            job.parameters
                == JobParameters.createVM(
                    JobParameters.CreateVM(
                        vmName: "my-app", template: "webapp",
                        config: JobParameters.CreateVM.Config(cpus: 4, memory: nil, disk: nil, start: true))))
    }

    @Test("A start_vm job decodes with its VM name")
    func startVM() throws {
        #expect(try validJob(JobFixture.startVM.json) == JobFixture.startVM.expected)
    }

    @Test("A stop_vm job without force is not forced")
    func stopVM() throws {
        #expect(try validJob(JobFixture.stopVM.json) == JobFixture.stopVM.expected)
    }

    @Test("A stop_vm job with force is forced")
    func stopVMForced() throws {
        #expect(try validJob(JobFixture.stopVMForced.json) == JobFixture.stopVMForced.expected)
    }

    @Test("A restart_vm job decodes with its VM name")
    func restartVM() throws {
        #expect(try validJob(JobFixture.restartVM.json) == JobFixture.restartVM.expected)
    }

    @Test("A delete_vm job without force is not forced")
    func deleteVM() throws {
        #expect(try validJob(JobFixture.deleteVM.json) == JobFixture.deleteVM.expected)
    }

    @Test("A delete_vm job with force is forced")
    func deleteVMForced() throws {
        #expect(try validJob(JobFixture.deleteVMForced.json) == JobFixture.deleteVMForced.expected)
    }

    @Test("An execute_command job with a shell command decodes with its timeout")
    func executeShell() throws {
        #expect(try validJob(JobFixture.executeShell.json) == JobFixture.executeShell.expected)
    }

    @Test("An execute_command job with argv decodes with its workdir and env")
    func executeArgv() throws {
        #expect(try validJob(JobFixture.executeArgv.json) == JobFixture.executeArgv.expected)
    }

    @Test("A get_vm_info job decodes with its VM name")
    func getVMInfo() throws {
        #expect(try validJob(JobFixture.getVMInfo.json) == JobFixture.getVMInfo.expected)
    }

    @Test("A list_vms job needs no parameters and names no VM")
    func listVMs() throws {
        let job = try validJob(JobFixture.listVMs.json)
        #expect(job == JobFixture.listVMs.expected)
        #expect(job.parameters.vmName == nil)
    }

    @Test("A backup_vm job without stopIfRunning stops a running VM")
    func backupVM() throws {
        #expect(try validJob(JobFixture.backupVM.json) == JobFixture.backupVM.expected)
    }

    @Test("A backup_vm job with stopIfRunning false keeps it false")
    func backupVMRunning() throws {
        #expect(try validJob(JobFixture.backupVMRunning.json) == JobFixture.backupVMRunning.expected)
    }

    @Test("A restore_vm job without start does not start the VM")
    func restoreVM() throws {
        #expect(try validJob(JobFixture.restoreVM.json) == JobFixture.restoreVM.expected)
    }

    @Test("A restore_vm job with start starts it")
    func restoreVMStarted() throws {
        #expect(try validJob(JobFixture.restoreVMStarted.json) == JobFixture.restoreVMStarted.expected)
    }

    @Test("A collect_logs job without lines collects 200")
    func collectLogs() throws {
        #expect(try validJob(JobFixture.collectLogs.json) == JobFixture.collectLogs.expected)
    }

    @Test("A collect_logs job with lines keeps its number")
    func collectLogsLines() throws {
        #expect(try validJob(JobFixture.collectLogsLines.json) == JobFixture.collectLogsLines.expected)
    }

    @Test("The fixtures cover all eleven job types")
    func fixturesCoverEveryType() {
        #expect(Set(JobFixture.all.map(\.expected.type)) == Set(JobType.allCases))
    }

    @Test("A job's type and VM name come from its parameters")
    func derivedProperties() throws {
        let job = try validJob(JobFixture.restoreVM.json)
        #expect(job.type == .restoreVM)
        #expect(job.parameters.vmName == "my-app-restored")
        #expect(job.ref == JobRef(jobId: "job-t1", attempt: 1))
    }

    @Test("The envelope's keyId and signature are kept")
    func keyIdAndSignature() throws {
        let json = #"""
            {"id": "job-k1", "attempt": 4, "leaseExpiresAt": "2026-11-27T08:00:30Z", "type": "start_vm",
             "vmName": "my-app", "keyId": "cp-2026-11", "signature": "c2ln"}
            """#
        let expected = Job(
            id: "job-k1", attempt: 4, leaseExpiresAt: leaseTime, timeout: nil, keyId: "cp-2026-11", signature: "c2ln",
            parameters: .startVM(JobParameters.VMTarget(vmName: "my-app")))
        #expect(try validJob(json) == expected)
        try expectEncodes(expected, to: json)
    }

    @Test("Unknown fields are ignored")
    func unknownFieldsIgnored() throws {
        let json = #"""
            {"id": "job-s3", "attempt": 1, "leaseExpiresAt": "2026-11-27T08:00:30Z", "type": "stop_vm",
             "vmName": "my-app", "force": true, "priority": 7, "labels": {"team": "web"}, "requestedBy": null,
             "config": "not looked at for stop_vm"}
            """#
        #expect(try validJob(json) == JobFixture.stopVMForced.expected)
    }

    @Test("null for an optional field means its default", arguments: NullDefaultCase.all)
    func nullMeansDefault(_ example: NullDefaultCase) throws {
        let json =
            #"{"id": "job-n1", "attempt": 1, "leaseExpiresAt": "2026-11-27T08:00:30Z", "timeout": null, "#
            + example.fields + "}"
        let job = try validJob(json)
        #expect(job.parameters == example.expected)
        #expect(job.timeout == nil)
    }

    @Test("A job decodes through JSONDecoder as part of a larger value")
    func decodesInsideArray() throws {
        let jobs = try WireTestJSON.decode(
            [Job].self, from: "[\(JobFixture.startVM.json), \(JobFixture.collectLogs.json)]")
        #expect(jobs == [JobFixture.startVM.expected, JobFixture.collectLogs.expected])
    }
}

@Suite("Jobs: encoding back to the flat wire form")
struct JobEncodingTests {
    @Test("A job re-encodes to its flat wire form, defaults written out", arguments: JobFixture.all)
    func encodesFlat(_ fixture: JobFixture) throws {
        try expectEncodes(fixture.expected, to: fixture.wire)
    }

    @Test("A job survives encode then decode unchanged", arguments: JobFixture.all)
    func roundTrips(_ fixture: JobFixture) throws {
        let data = try WireJSON.encoder().encode(fixture.expected)
        #expect(try WireJSON.decoder().decode(Job.self, from: data) == fixture.expected)
    }

    @Test("Whole-number sizes are written as integers, fractional ones as they are")
    func sizesAsNumbers() throws {
        let object = try #require(try WireTestJSON.encode(JobFixture.createVMWithConfig.expected)["config"])
        #expect(object["memory"] == JSONValue.double(1.5))
        #expect(object["disk"] == JSONValue.int(20))
        #expect(object["cpus"] == JSONValue.int(2))
    }
}

/// A job's type and parameters with an optional field set to `null`, and what that must mean.
struct NullDefaultCase: Sendable, CustomTestStringConvertible {
    let fields: String
    let expected: JobParameters

    var testDescription: String { fields }

    static let all: [NullDefaultCase] = [
        NullDefaultCase(
            fields: #""type": "stop_vm", "vmName": "my-app", "force": null"#,
            expected: .stopVM(JobParameters.StopVM(vmName: "my-app", force: false))),
        NullDefaultCase(
            fields: #""type": "create_vm", "vmName": "my-app", "template": "api", "config": null"#,
            expected: .createVM(
                JobParameters.CreateVM(
                    vmName: "my-app", template: "api",
                    config: JobParameters.CreateVM.Config(cpus: nil, memory: nil, disk: nil, start: true)))),
        NullDefaultCase(
            fields:
                #""type": "create_vm", "vmName": "my-app", "template": "api", "config": {"cpus": null, "start": null}"#,
            expected: .createVM(
                JobParameters.CreateVM(
                    vmName: "my-app", template: "api",
                    config: JobParameters.CreateVM.Config(cpus: nil, memory: nil, disk: nil, start: true)))),
        NullDefaultCase(
            fields: #""type": "backup_vm", "vmName": "my-app", "backupPath": "b.tar.gz", "stopIfRunning": null"#,
            expected: .backupVM(JobParameters.BackupVM(vmName: "my-app", backupPath: "b.tar.gz", stopIfRunning: true))),
        NullDefaultCase(
            fields: #""type": "restore_vm", "vmName": "my-app", "backupPath": "b.tar.gz", "start": null"#,
            expected: .restoreVM(JobParameters.RestoreVM(backupPath: "b.tar.gz", vmName: "my-app", start: false))),
        NullDefaultCase(
            fields: #""type": "collect_logs", "vmName": "my-app", "lines": null"#,
            expected: .collectLogs(JobParameters.CollectLogs(vmName: "my-app", lines: 200))),
        NullDefaultCase(
            fields: #""type": "execute_command", "vmName": "my-app", "command": "id", "argv": null"#
                + #", "env": null, "workdir": null"#,
            expected: .executeCommand(
                JobParameters.ExecuteCommand(vmName: "my-app", command: .shell("id"), workdir: nil, env: [:]))),
    ]
}
