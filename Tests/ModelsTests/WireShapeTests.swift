import Foundation
import Testing

@testable import Models

@Suite("Register and claim bodies beyond the examples")
struct RegisterAndClaimShapeTests {
    @Test("A registration without Lima writes lima as an explicit null")
    func limaNilIsWrittenAsNull() throws {
        var registration = Example.registerValue
        registration.lima = nil
        let object = try #require(try WireTestJSON.encode(registration).objectValue)
        #expect(object["lima"] == JSONValue.null)
        #expect(try WireTestJSON.encodedText(registration).contains(#""lima":null"#))
    }

    @Test("A registration with lima null decodes without Lima")
    func limaNullDecodes() throws {
        let golden = Example.register.replacingOccurrences(of: #"{"version": "2.0.1"}"#, with: "null")
        try #require(golden != Example.register)
        var expected = Example.registerValue
        expected.lima = nil
        try expectDecodes(golden, to: expected)
    }

    @Test("A registration without Lima survives encode then decode")
    func limaNilRoundTrips() throws {
        var registration = Example.registerValue
        registration.lima = nil
        let data = try WireJSON.encoder().encode(registration)
        #expect(try WireJSON.decoder().decode(Registration.self, from: data) == registration)
    }

    @Test("An empty register response overrides nothing")
    func emptyRegisterReply() throws {
        try expectDecodes("{}", to: RegistrationReply(heartbeatInterval: nil, metricsInterval: nil, pollWait: nil))
    }

    @Test("A register response with one field sets only that one and ignores unknown fields")
    func partialRegisterReply() throws {
        try expectDecodes(
            #"{"pollWait": 5000, "futureSetting": {"x": 1}}"#,
            to: RegistrationReply(heartbeatInterval: nil, metricsInterval: nil, pollWait: 5_000))
    }

    @Test("A register response leaves absent fields out when encoded")
    func registerReplyOmitsNil() throws {
        try expectEncodes(RegistrationReply(pollWait: 5_000), to: #"{"pollWait": 5000}"#)
    }

    @Test("A --drain claim request asks for an immediate answer")
    func drainClaim() throws {
        let golden = #"{"capacity": 1, "wait": 0, "held": [], "draining": true}"#
        let value = ClaimRequest(capacity: 1, wait: 0, held: [], draining: true)
        try expectDecodes(golden, to: value)
        try expectEncodes(value, to: golden)
    }

    @Test("A claim response without jobs, or with an empty list, has no jobs")
    func emptyClaimReply() throws {
        let none: [JSONValue] = []
        try expectDecodes("{}", to: ClaimReply(jobs: none))
        try expectDecodes(#"{"jobs": []}"#, to: ClaimReply(jobs: none))
        #expect(try WireTestJSON.decode(ClaimReply.self, from: "{}").decodedJobs().isEmpty)
    }

    @Test("A claim response built from jobs hands the same jobs back")
    func claimReplyFromJobs() throws {
        let jobs = [Example.jobValue, Example.executeCommandJobValue]
        let reply = try ClaimReply(jobs: jobs)
        #expect(reply.decodedJobs() == jobs.map(JobDecoding.valid))
    }
}

@Suite("Report bodies beyond the examples")
struct ReportShapeTests {
    @Test("A report with no sections is just its batch id and time")
    func minimalReport() throws {
        let golden = #"{"batchId": "b-1", "sentAt": "2026-11-27T08:00:12Z"}"#
        let value = Report(
            batchId: "b-1", sentAt: utc(1_795_766_412), heartbeat: nil, results: nil, logs: nil, metrics: nil)
        try expectDecodes(golden, to: value)
        try expectEncodes(value, to: golden)
    }

    @Test("A heartbeat without health leaves the field out")
    func heartbeatWithoutHealth() throws {
        let golden = #"""
            {"state": "draining", "startedAt": "2026-11-27T07:58:09Z", "uptime": 0, "held": []}
            """#
        let value = Heartbeat(state: .draining, startedAt: utc(1_795_766_289), uptime: 0, held: [], health: nil)
        try expectDecodes(golden, to: value)
        try expectEncodes(value, to: golden)
    }

    @Test("An agent log line that concerns no job has no jobId")
    func agentLogLine() throws {
        let golden = #"""
            {"seq": 7, "stream": "agent", "at": "2026-11-27T08:00:11Z", "text": "claim failed: HTTP 503"}
            """#
        let value = LogChunk(jobId: nil, seq: 7, stream: .agent, at: utc(1_795_766_411), text: "claim failed: HTTP 503")
        try expectDecodes(golden, to: value)
        try expectEncodes(value, to: golden)
    }

    @Test("A timed-out result carries its error and truncated output, and no data")
    func timedOutResult() throws {
        let golden = #"""
            {"jobId": "job-42", "attempt": 2, "type": "execute_command", "status": "timed_out",
             "startedAt": "2026-11-27T08:00:00Z", "finishedAt": "2026-11-27T08:00:30Z", "duration": 30000,
             "stdout": "tick\ntick\n", "stderr": "", "outputTruncated": true,
             "error": {"code": "timeout", "message": "killed after 30000 ms"}}
            """#
        let value = JobResult(
            jobId: "job-42", attempt: 2, type: "execute_command", status: .timedOut, startedAt: utc(1_795_766_400),
            finishedAt: utc(1_795_766_430), duration: 30_000, exitCode: nil, stdout: "tick\ntick\n", stderr: "",
            outputTruncated: true, data: nil, error: WireError(code: .timeout, message: "killed after 30000 ms"))
        try expectDecodes(golden, to: value)
        try expectEncodes(value, to: golden)
    }

    @Test("A report response without lists decodes to empty lists")
    func reportReplyWithoutLists() throws {
        try expectDecodes("{}", to: ReportReply(accepted: [], leases: [], cancel: []))
    }

    @Test("A report response with some lists leaves the others empty")
    func reportReplyWithSomeLists() throws {
        try expectDecodes(
            #"{"cancel": ["job-42"], "serverTime": "2026-11-27T08:00:12Z"}"#,
            to: ReportReply(accepted: [], leases: [], cancel: ["job-42"]))
        try expectDecodes(
            #"{"accepted": ["job-7f3c", "job-41"]}"#, to: ReportReply(accepted: ["job-7f3c", "job-41"]))
    }

    @Test("A report response lease may be written with an offset")
    func leaseWithOffset() throws {
        try expectDecodes(
            #"{"leases": [{"jobId": "job-41", "leaseExpiresAt": "2026-11-27T17:01:12+09:00"}]}"#,
            to: ReportReply(leases: [ReportReply.Lease(jobId: "job-41", leaseExpiresAt: utc(1_795_766_472))]))
    }

    @Test("A report response with a lease that is not a time does not decode")
    func leaseThatIsNotATime() {
        #expect(throws: DecodingError.self) {
            try WireTestJSON.decode(
                ReportReply.self, from: #"{"leases": [{"jobId": "job-41", "leaseExpiresAt": "soon"}]}"#)
        }
    }

    @Test("A realistic error body decodes and encodes")
    func errorBody() throws {
        let golden = #"{"error": {"code": "invalid_request", "message": "capacity must be at least 1"}}"#
        let value = ErrorResponse(code: "invalid_request", message: "capacity must be at least 1")
        try expectDecodes(golden, to: value)
        try expectEncodes(value, to: golden)
    }
}

/// The `data` column of §4.2, both ways.
@Suite("Result data shapes of §4.2")
struct ResultDataShapeTests {
    @Test("A running VM has its SSH port and usage")
    func runningVM() throws {
        try expectDecodes(Example.vmInfo, to: Example.vmInfoValue)
        try expectEncodes(Example.vmInfoValue, to: Example.vmInfo)
    }

    @Test("A stopped VM has no SSH port and no usage, and writes neither")
    func stoppedVM() throws {
        let golden = #"""
            {"name": "db", "status": "Stopped", "cpus": 4, "memoryBytes": 8589934592, "diskBytes": 107374182400,
             "arch": "aarch64", "vmType": "vz", "dir": "/home/limahost/.lima/db"}
            """#
        let value = VMInfo(
            name: "db", status: "Stopped", cpus: 4, memoryBytes: 8_589_934_592, diskBytes: 107_374_182_400,
            arch: "aarch64", vmType: "vz", dir: "/home/limahost/.lima/db", sshLocalPort: nil, usage: nil)
        try expectDecodes(golden, to: value)
        try expectEncodes(value, to: golden)
    }

    @Test("list_vms data is a list of VMs")
    func vmList() throws {
        let golden = #"{"vms": [\#(Example.vmInfo)]}"#
        let value = ResultData.VMList(vms: [Example.vmInfoValue])
        try expectDecodes(golden, to: value)
        try expectEncodes(value, to: golden)
    }

    @Test("delete_vm data names the deleted VM")
    func deleted() throws {
        try expectDecodes(#"{"deleted": "my-app"}"#, to: ResultData.Deleted(deleted: "my-app"))
        try expectEncodes(ResultData.Deleted(deleted: "my-app"), to: #"{"deleted": "my-app"}"#)
    }

    @Test("execute_command data is the exit code")
    func exitCode() throws {
        try expectDecodes(#"{"exitCode": 3}"#, to: ResultData.Exit(exitCode: 3))
        try expectEncodes(ResultData.Exit(exitCode: 0), to: #"{"exitCode": 0}"#)
    }

    @Test("backup_vm data describes the archive")
    func backup() throws {
        let golden = #"""
            {"path": "/var/lib/limahost/backups/my-app-2026-11-27.tar.gz", "sizeBytes": 1234567890,
             "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
             "vmName": "my-app", "createdAt": "2026-11-27T08:00:30Z"}
            """#
        let value = ResultData.Backup(
            path: "/var/lib/limahost/backups/my-app-2026-11-27.tar.gz", sizeBytes: 1_234_567_890,
            sha256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", vmName: "my-app",
            createdAt: leaseTime)
        try expectDecodes(golden, to: value)
        try expectEncodes(value, to: golden)
    }

    @Test("collect_logs data maps file names to their text")
    func logs() throws {
        // §4.2's `"..."` contents completed with one line each.
        let golden = #"""
            {"files": {"ha.stderr.log": "level=info msg=\"SSH ready\"\n", "serial.log": "login: \n"}}
            """#
        let value = ResultData.Logs(files: [
            "ha.stderr.log": "level=info msg=\"SSH ready\"\n", "serial.log": "login: \n",
        ])
        try expectDecodes(golden, to: value)
        try expectEncodes(value, to: golden)
    }
}
