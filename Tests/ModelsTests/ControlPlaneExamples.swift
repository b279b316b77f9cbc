import Foundation

@testable import Models

/// Every JSON example of control-plane-api.md, copied in, beside the Swift value it stands for.
///
/// Where the document writes a placeholder (`"..."`, `{...}`, `[ JOB, ... ]`), the example here
/// is the smallest faithful completion with real values; each such spot is named in a comment.
/// Times were converted to seconds since 1970 outside Swift (Python's `calendar.timegm`).
enum Example {
    // MARK: §2 error body

    /// §2, exactly as written (its values are the literal word "string").
    static let errorBody = #"""
        {"error": {"code": "string", "message": "string"}}
        """#
    static let errorBodyValue = ErrorResponse(error: WireError(code: ErrorCode("string"), message: "string"))

    // MARK: §3 register

    /// §3, exactly as written.
    static let register = #"""
        {
          "agentId": "agent-001",
          "agentName": "production-server-1",
          "version": "1.0.0",
          "protocol": 1,
          "host": {"hostname": "h1", "os": "linux", "arch": "x86_64",
                   "cpus": 16, "memoryBytes": 68719476736, "diskBytes": 536870912000},
          "lima": {"version": "2.0.1"},
          "capabilities": {
            "jobTypes": ["create_vm", "start_vm", "stop_vm", "restart_vm", "delete_vm",
                         "execute_command", "get_vm_info", "list_vms", "backup_vm",
                         "restore_vm", "collect_logs"],
            "maxConcurrentOperations": 3,
            "templates": ["webapp", "api", "database", "dev"]
          },
          "resourceLimits": {"maxVmsPerAgent": 10, "maxCpuPerVm": 8, "maxMemoryPerVm": 16,
                             "maxDiskPerVm": 100, "maxTotalCpu": 32, "maxTotalMemory": 64,
                             "maxTotalDisk": 500}
        }
        """#
    static let registerValue = Registration(
        agentId: "agent-001",
        agentName: "production-server-1",
        version: "1.0.0",
        protocol: 1,
        host: Registration.Host(
            hostname: "h1", os: "linux", arch: "x86_64", cpus: 16, memoryBytes: 68_719_476_736,
            diskBytes: 536_870_912_000),
        lima: Registration.Lima(version: "2.0.1"),
        capabilities: Registration.Capabilities(
            jobTypes: [
                .createVM, .startVM, .stopVM, .restartVM, .deleteVM, .executeCommand, .getVMInfo, .listVMs,
                .backupVM, .restoreVM, .collectLogs,
            ],
            maxConcurrentOperations: 3,
            templates: ["webapp", "api", "database", "dev"]),
        resourceLimits: ResourceLimits(
            maxVmsPerAgent: 10, maxCpuPerVm: 8, maxMemoryPerVm: 16, maxDiskPerVm: 100, maxTotalCpu: 32,
            maxTotalMemory: 64, maxTotalDisk: 500))

    /// §3 register response, exactly as written.
    static let registerReply = #"""
        {"heartbeatInterval": 30000, "metricsInterval": 10000, "pollWait": 30000}
        """#
    static let registerReplyValue = RegistrationReply(
        heartbeatInterval: 30_000, metricsInterval: 10_000, pollWait: 30_000)

    // MARK: §4 claim

    /// §4 claim request, exactly as written.
    static let claim = #"""
        {"capacity": 3, "wait": 30000, "held": [{"jobId": "job-41", "attempt": 1}], "draining": false}
        """#
    static let claimValue = ClaimRequest(
        capacity: 3, wait: 30_000, held: [JobRef(jobId: "job-41", attempt: 1)], draining: false)

    /// §4.1 job object, exactly as written.
    static let job = #"""
        {
          "id": "job-7f3c",
          "type": "create_vm",
          "attempt": 1,
          "leaseExpiresAt": "2026-11-27T08:00:30Z",
          "timeout": 600000,
          "vmName": "my-app",
          "template": "webapp",
          "config": {"cpus": 2, "memory": 4, "disk": 20}
        }
        """#
    static let jobValue = Job(
        id: "job-7f3c", attempt: 1, leaseExpiresAt: leaseTime, timeout: 600_000,
        parameters: .createVM(
            JobParameters.CreateVM(
                vmName: "my-app", template: "webapp",
                config: JobParameters.CreateVM.Config(cpus: 2, memory: 4, disk: 20, start: true))))
    /// The §4.1 job as `Job.encode` writes it: the same, with the default `config.start` written out.
    static let jobAsWritten = #"""
        {"id": "job-7f3c", "type": "create_vm", "attempt": 1, "leaseExpiresAt": "2026-11-27T08:00:30Z",
         "timeout": 600000, "vmName": "my-app", "template": "webapp",
         "config": {"cpus": 2, "memory": 4, "disk": 20, "start": true}}
        """#
    /// The §4.1 job as the claim reply keeps it: raw JSON, built by hand.
    static let jobRaw: JSONValue = .object([
        "id": .string("job-7f3c"),
        "type": .string("create_vm"),
        "attempt": .int(1),
        "leaseExpiresAt": .string("2026-11-27T08:00:30Z"),
        "timeout": .int(600_000),
        "vmName": .string("my-app"),
        "template": .string("webapp"),
        "config": .object(["cpus": .int(2), "memory": .int(4), "disk": .int(20)]),
    ])

    /// §4.1 prose example `{ type: "execute_command", vmName: "my-app", command: "ls -la", timeout: 30000 }`,
    /// written as JSON and completed with the envelope fields every job carries (`id`, `attempt`,
    /// `leaseExpiresAt`).
    static let executeCommandJob = #"""
        {"id": "job-7f40", "attempt": 1, "leaseExpiresAt": "2026-11-27T08:00:30Z",
         "type": "execute_command", "vmName": "my-app", "command": "ls -la", "timeout": 30000}
        """#
    static let executeCommandJobValue = Job(
        id: "job-7f40", attempt: 1, leaseExpiresAt: leaseTime, timeout: 30_000,
        parameters: .executeCommand(
            JobParameters.ExecuteCommand(vmName: "my-app", command: .shell("ls -la"), workdir: nil, env: [:])))

    /// §4 claim response `{"jobs": [ JOB, ... ]}`, completed with the §4.1 job as its one job.
    static let claimReply = #"""
        {"jobs": [\#(job)]}
        """#
    static let claimReplyValue = ClaimReply(jobs: [jobRaw])

    // MARK: §4.3 signed job

    /// The signed payload: the §4.1 job's JSON bytes without the delivery fields (`attempt`,
    /// `leaseExpiresAt`), 145 bytes, so its base64 would need one `=`.
    static let signedPayloadText =
        #"{"id":"job-7f3c","type":"create_vm","timeout":600000,"vmName":"my-app","template":"webapp","#
        + #""config":{"cpus":2,"memory":4,"disk":20,"start":true}}"#
    /// base64url of `signedPayloadText`, without padding.
    static let signedPayload =
        "eyJpZCI6ImpvYi03ZjNjIiwidHlwZSI6ImNyZWF0ZV92bSIsInRpbWVvdXQiOjYwMDAwMCwidm1OYW1lIjoibXktYXBwIiwidGVtcGxh"
        + "dGUiOiJ3ZWJhcHAiLCJjb25maWciOnsiY3B1cyI6MiwibWVtb3J5Ijo0LCJkaXNrIjoyMCwic3RhcnQiOnRydWV9fQ"
    /// The 64 bytes 0xFB, 0xFC, ... 0xFF, 0x00, ... 0x3A: a stand-in for an Ed25519 signature (Models
    /// does not verify signatures), chosen so its base64url contains both `-` and `_`.
    static let signatureBytes = Data((0..<64).map { UInt8(truncatingIfNeeded: 251 + $0) })
    /// base64url of `signatureBytes`, without padding.
    static let signature = "-_z9_v8AAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Og"

    /// §4.3, with the two `<base64url ...>` placeholders replaced by the values above.
    static let signedJob = #"""
        {"id": "job-7f3c", "attempt": 1, "leaseExpiresAt": "2026-11-27T08:00:30Z",
         "keyId": "cp-2026-11", "payload": "\#(signedPayload)",
         "signature": "\#(signature)"}
        """#
    static let signedJobValue = SignedJob(
        id: "job-7f3c", attempt: 1, leaseExpiresAt: leaseTime, keyId: "cp-2026-11", payload: signedPayload,
        signature: signature)

    // MARK: §5.1 heartbeat

    /// §5.1; `"startedAt": "..."` completed as 07:58:09Z, which is `uptime` (123 s) before the §5
    /// example's `sentAt` (08:00:12Z).
    static let heartbeat = #"""
        {"state": "running", "startedAt": "2026-11-27T07:58:09Z", "uptime": 123000,
         "held": [{"jobId": "job-41", "attempt": 1}],
         "health": {"cpuPercent": 12.5, "memory": {"totalBytes": 0, "usedBytes": 0},
                    "disk": {"path": "/var/lib", "totalBytes": 0, "usedBytes": 0},
                    "lima": "ok", "vms": {"Running": 2, "Stopped": 1}}}
        """#
    static let heartbeatValue = Heartbeat(
        state: .running, startedAt: utc(1_795_766_289), uptime: 123_000,
        held: [JobRef(jobId: "job-41", attempt: 1)],
        health: Health(
            cpuPercent: 12.5, memory: MemoryUsage(totalBytes: 0, usedBytes: 0),
            disk: DiskUsage(path: "/var/lib", totalBytes: 0, usedBytes: 0), lima: "ok",
            vms: ["Running": 2, "Stopped": 1]))

    // MARK: §5.2 result

    /// §4.2 `get_vm_info` data (also what `create_vm` returns): every field named there, with values.
    static let vmInfo = #"""
        {"name": "my-app", "status": "Running", "cpus": 2, "memoryBytes": 4294967296,
         "diskBytes": 21474836480, "arch": "x86_64", "vmType": "qemu", "dir": "/home/limahost/.lima/my-app",
         "sshLocalPort": 60022, "usage": {"cpuPercent": 3.5, "rssBytes": 1073741824}}
        """#
    static let vmInfoValue = VMInfo(
        name: "my-app", status: "Running", cpus: 2, memoryBytes: 4_294_967_296, diskBytes: 21_474_836_480,
        arch: "x86_64", vmType: "qemu", dir: "/home/limahost/.lima/my-app", sshLocalPort: 60_022,
        usage: VMInfo.Usage(cpuPercent: 3.5, rssBytes: 1_073_741_824))
    static let vmInfoRaw: JSONValue = .object([
        "name": .string("my-app"),
        "status": .string("Running"),
        "cpus": .int(2),
        "memoryBytes": .int(4_294_967_296),
        "diskBytes": .int(21_474_836_480),
        "arch": .string("x86_64"),
        "vmType": .string("qemu"),
        "dir": .string("/home/limahost/.lima/my-app"),
        "sshLocalPort": .int(60_022),
        "usage": .object(["cpuPercent": .double(3.5), "rssBytes": .int(1_073_741_824)]),
    ])

    /// §5.2, field for field as written (including `error` beside `succeeded`, as the document shows
    /// every field at once). Completions: `startedAt` 07:59:30Z and `finishedAt` 41.25 s later
    /// (`duration` 41250), `stdout`/`stderr` short texts, and `data` the create_vm VM (`vmInfo`).
    static let result = #"""
        {"jobId": "job-7f3c", "attempt": 1, "type": "create_vm",
         "status": "succeeded",
         "startedAt": "2026-11-27T07:59:30Z", "finishedAt": "2026-11-27T08:00:11.250Z", "duration": 41250,
         "exitCode": 0,
         "stdout": "created my-app\n", "stderr": "level=info msg=ready\n", "outputTruncated": false,
         "data": \#(vmInfo),
         "error": {"code": "vm_not_found", "message": "no VM named my-app"}}
        """#
    static let resultValue = JobResult(
        jobId: "job-7f3c", attempt: 1, type: "create_vm", status: .succeeded, startedAt: utc(1_795_766_370),
        finishedAt: utc(1_795_766_411.25), duration: 41_250, exitCode: 0, stdout: "created my-app\n",
        stderr: "level=info msg=ready\n", outputTruncated: false, data: vmInfoRaw,
        error: WireError(code: .vmNotFound, message: "no VM named my-app"))

    // MARK: §5.3 logs and metrics

    /// §5.3 LOG; `"at": "..."` completed with a millisecond time, `"text": "..."` with a line.
    static let log = #"""
        {"jobId": "job-41", "seq": 0, "stream": "stdout", "at": "2026-11-27T08:00:11.120Z", "text": "hello from my-app\n"}
        """#
    static let logValue = LogChunk(
        jobId: "job-41", seq: 0, stream: .stdout, at: utc(1_795_766_411.12), text: "hello from my-app\n")

    /// §5.3 SAMPLE; `"at": "..."` completed as 08:00:10Z, and `"memory": {...}`, `"disk": {...}` with
    /// the heartbeat's memory and disk shapes (§5.1) and non-zero sizes.
    static let sample = #"""
        {"at": "2026-11-27T08:00:10Z",
         "system": {"cpuPercent": 0, "load1": 0,
                    "memory": {"totalBytes": 68719476736, "usedBytes": 8589934592},
                    "disk": {"path": "/var/lib", "totalBytes": 536870912000, "usedBytes": 107374182400},
                    "network": {"rxBytes": 0, "txBytes": 0}},
         "vms": [{"name": "my-app", "status": "Running", "cpuPercent": 0, "rssBytes": 0}],
         "operations": {"create_vm": {"succeeded": 3, "failed": 0, "p50": 41000, "p99": 61000}}}
        """#
    static let sampleValue = MetricsSample(
        at: utc(1_795_766_410),
        system: MetricsSample.System(
            cpuPercent: 0, load1: 0, memory: MemoryUsage(totalBytes: 68_719_476_736, usedBytes: 8_589_934_592),
            disk: DiskUsage(path: "/var/lib", totalBytes: 536_870_912_000, usedBytes: 107_374_182_400),
            network: MetricsSample.Network(rxBytes: 0, txBytes: 0)),
        vms: [MetricsSample.VM(name: "my-app", status: "Running", cpuPercent: 0, rssBytes: 0)],
        operations: ["create_vm": MetricsSample.Operation(succeeded: 3, failed: 0, p50: 41_000, p99: 61_000)])

    // MARK: §5 report

    /// §5; `"batchId": "5b0e1c2e-..."` completed as a whole UUID, `"heartbeat": {...}` with the §5.1
    /// example, and each `[ X, ... ]` list with its one §5.2 / §5.3 example.
    static let report = #"""
        {
          "batchId": "5b0e1c2e-8d4f-4a6b-9c3e-2f1a7b6d5e4c",
          "sentAt": "2026-11-27T08:00:12Z",
          "heartbeat": \#(heartbeat),
          "results": [\#(result)],
          "logs": [\#(log)],
          "metrics": [\#(sample)]
        }
        """#
    static let reportValue = Report(
        batchId: "5b0e1c2e-8d4f-4a6b-9c3e-2f1a7b6d5e4c", sentAt: utc(1_795_766_412), heartbeat: heartbeatValue,
        results: [resultValue], logs: [logValue], metrics: [sampleValue])

    // MARK: §5.4 report response

    /// §5.4; the lease's `"leaseExpiresAt": "..."` completed as 08:01:12Z.
    static let reportReply = #"""
        {"accepted": ["job-7f3c"],
         "leases": [{"jobId": "job-41", "leaseExpiresAt": "2026-11-27T08:01:12Z"}],
         "cancel": ["job-42"]}
        """#
    static let reportReplyValue = ReportReply(
        accepted: ["job-7f3c"],
        leases: [ReportReply.Lease(jobId: "job-41", leaseExpiresAt: utc(1_795_766_472))],
        cancel: ["job-42"])
}
