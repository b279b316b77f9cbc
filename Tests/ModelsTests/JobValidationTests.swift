import Foundation
import Testing

@testable import Models

/// A delivered job, as JSON text, with the common envelope and `fields` after it.
private func job(id: String = "job-1", attempt: String = "1", _ fields: String) -> String {
    #"{"id": "\#(id)", "attempt": \#(attempt), "leaseExpiresAt": "2026-11-27T08:00:30Z", \#(fields)}"#
}

@Suite("Jobs: typed validation failures")
struct JobValidationTests {
    @Test("An unknown job type is unsupported_job_type, with the envelope captured")
    func unknownType() throws {
        let rejection = try rejectionOf(job(id: "job-9", attempt: "2", #""type": "reboot_vm", "vmName": "my-app""#))
        #expect(rejection.error.field == "type")
        #expect(rejection.error.code == .unsupportedJobType)
        #expect(rejection.error.reason.contains("reboot_vm"))
        #expect(rejection.id == "job-9")
        #expect(rejection.attempt == 2)
        #expect(rejection.type == "reboot_vm")
    }

    @Test("A missing vmName is named as required")
    func missingVMName() throws {
        let rejection = try rejectionOf(job(id: "job-10", #""type": "start_vm""#))
        #expect(rejection.error.field == "vmName")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("required"))
        #expect(rejection.id == "job-10")
        #expect(rejection.attempt == 1)
        #expect(rejection.type == "start_vm")
    }

    @Test("A vmName that is a number is the wrong type")
    func vmNameNumber() throws {
        let rejection = try rejectionOf(job(#""type": "stop_vm", "vmName": 42"#))
        #expect(rejection.error.field == "vmName")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("must be a string"))
        #expect(rejection.error.reason.contains("42"))
        #expect(rejection.type == "stop_vm")
    }

    @Test("config.cpus given as a word is not an integer")
    func cpusWord() throws {
        let rejection = try rejectionOf(
            job(#""type": "create_vm", "vmName": "my-app", "template": "webapp", "config": {"cpus": "two"}"#))
        #expect(rejection.error.field == "config.cpus")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("integer"))
        #expect(rejection.error.reason.contains(#""two""#))
        #expect(rejection.type == "create_vm")
    }

    @Test("config.cpus of 0 is below the minimum")
    func cpusZero() throws {
        let rejection = try rejectionOf(
            job(#""type": "create_vm", "vmName": "my-app", "template": "webapp", "config": {"cpus": 0}"#))
        #expect(rejection.error.field == "config.cpus")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("at least 1"))
    }

    @Test("A negative config.memory is refused")
    func negativeMemory() throws {
        let rejection = try rejectionOf(
            job(#""type": "create_vm", "vmName": "my-app", "template": "webapp", "config": {"memory": -4}"#))
        #expect(rejection.error.field == "config.memory")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("greater than 0"))
    }

    @Test("A config that is not an object is refused")
    func configNotObject() throws {
        let rejection = try rejectionOf(
            job(#""type": "create_vm", "vmName": "my-app", "template": "webapp", "config": [2, 4, 20]"#))
        #expect(rejection.error.field == "config")
        #expect(rejection.error.reason.contains("an object"))
    }

    @Test("A boolean given as a string is refused")
    func forceAsString() throws {
        let rejection = try rejectionOf(job(#""type": "delete_vm", "vmName": "my-app", "force": "true""#))
        #expect(rejection.error.field == "force")
        #expect(rejection.error.reason.contains("boolean"))
    }

    @Test("An id with a space breaks the id rule, and the id is still captured")
    func idWithSpace() throws {
        let rejection = try rejectionOf(job(id: "job 1", #""type": "start_vm", "vmName": "my-app""#))
        #expect(rejection.error.field == "id")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("A-Z a-z 0-9"))
        #expect(rejection.id == "job 1")
        #expect(rejection.type == "start_vm")
    }

    @Test("An id with a slash breaks the id rule")
    func idWithSlash() throws {
        let rejection = try rejectionOf(job(id: "job/1", #""type": "start_vm", "vmName": "my-app""#))
        #expect(rejection.error.field == "id")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("A-Z a-z 0-9"))
        #expect(rejection.id == "job/1")
    }

    @Test("An id of 129 characters is too long")
    func idTooLong() throws {
        let id = String(repeating: "a", count: 129)
        let rejection = try rejectionOf(job(id: id, #""type": "start_vm", "vmName": "my-app""#))
        #expect(rejection.error.field == "id")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("128"))
        #expect(rejection.id == id)
    }

    @Test("An id of 128 characters is long enough")
    func idLongest() throws {
        let id = String(repeating: "a", count: 128)
        #expect(try validJob(job(id: id, #""type": "start_vm", "vmName": "my-app""#)).id == id)
    }

    @Test("An empty id is refused and leaves nothing to report under")
    func idEmpty() throws {
        let rejection = try rejectionOf(job(id: "", #""type": "start_vm", "vmName": "my-app""#))
        #expect(rejection.error.field == "id")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("empty"))
        #expect(rejection.id == "")
        #expect(rejection.ref == nil)
    }

    @Test("A missing id is refused and leaves nothing to report under")
    func idMissing() throws {
        let rejection = try rejectionOf(
            #"{"attempt": 3, "leaseExpiresAt": "2026-11-27T08:00:30Z", "type": "start_vm", "vmName": "my-app"}"#)
        #expect(rejection.error.field == "id")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("required"))
        #expect(rejection.id == nil)
        #expect(rejection.attempt == 3)
        #expect(rejection.type == "start_vm")
        #expect(rejection.ref == nil)
    }

    @Test("An id that is a number is refused and leaves nothing to report under")
    func idNumber() throws {
        let rejection = try rejectionOf(
            job(#""type": "start_vm", "vmName": "my-app""#).replacingOccurrences(
                of: #""id": "job-1""#, with: #""id": 17"#))
        #expect(rejection.error.field == "id")
        #expect(rejection.error.reason.contains("must be a string"))
        #expect(rejection.id == nil)
        #expect(rejection.ref == nil)
    }

    @Test("Attempt 0 is below the minimum, and the delivered attempt is captured")
    func attemptZero() throws {
        let rejection = try rejectionOf(job(attempt: "0", #""type": "start_vm", "vmName": "my-app""#))
        #expect(rejection.error.field == "attempt")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("at least 1"))
        #expect(rejection.attempt == 0)
        #expect(rejection.id == "job-1")
    }

    @Test("An attempt given as a string is not an integer")
    func attemptString() throws {
        let rejection = try rejectionOf(job(attempt: #""1""#, #""type": "start_vm", "vmName": "my-app""#))
        #expect(rejection.error.field == "attempt")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("integer"))
        #expect(rejection.attempt == nil)
        #expect(rejection.id == "job-1")
    }

    @Test("A leaseExpiresAt that is not an RFC 3339 time is refused")
    func badLease() throws {
        let rejection = try rejectionOf(
            #"{"id": "job-1", "attempt": 1, "leaseExpiresAt": "tomorrow", "type": "start_vm", "vmName": "my-app"}"#)
        #expect(rejection.error.field == "leaseExpiresAt")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("RFC 3339"))
        #expect(rejection.error.reason.contains("tomorrow"))
        #expect(rejection.id == "job-1")
    }

    @Test("A timeout of 0 is refused")
    func zeroTimeout() throws {
        let rejection = try rejectionOf(job(#""type": "start_vm", "vmName": "my-app", "timeout": 0"#))
        #expect(rejection.error.field == "timeout")
        #expect(rejection.error.reason.contains("at least 1"))
    }

    @Test("execute_command with neither command nor argv is refused")
    func executeWithoutCommand() throws {
        let rejection = try rejectionOf(job(#""type": "execute_command", "vmName": "my-app""#))
        #expect(rejection.error.field == "command")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("command or argv"))
        #expect(rejection.type == "execute_command")
    }

    @Test("execute_command with both command and argv is refused")
    func executeWithBoth() throws {
        let rejection = try rejectionOf(
            job(#""type": "execute_command", "vmName": "my-app", "command": "ls", "argv": ["ls"]"#))
        #expect(rejection.error.field == "argv")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("not both"))
    }

    @Test("execute_command with a number in argv names its index")
    func executeArgvNumber() throws {
        let rejection = try rejectionOf(job(#""type": "execute_command", "vmName": "my-app", "argv": ["sleep", 5]"#))
        #expect(rejection.error.field == "argv[1]")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("must be a string"))
    }

    @Test("execute_command with an empty argv has no program to run")
    func executeEmptyArgv() throws {
        let rejection = try rejectionOf(job(#""type": "execute_command", "vmName": "my-app", "argv": []"#))
        #expect(rejection.error.field == "argv")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("argv[0]"))
    }

    @Test("execute_command with an empty command is refused")
    func executeEmptyCommand() throws {
        let rejection = try rejectionOf(job(#""type": "execute_command", "vmName": "my-app", "command": """#))
        #expect(rejection.error.field == "command")
        #expect(rejection.error.reason.contains("empty"))
    }

    @Test("execute_command with an env value that is not a string names the variable")
    func executeEnvValue() throws {
        let rejection = try rejectionOf(
            job(#""type": "execute_command", "vmName": "my-app", "command": "env", "env": {"FOO": 1}"#))
        #expect(rejection.error.field == "env.FOO")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("must be a string"))
    }

    @Test("execute_command with an env name that is not a variable name is refused", arguments: ["1BAD", "A B"])
    func executeEnvName(_ name: String) throws {
        let rejection = try rejectionOf(
            job(#""type": "execute_command", "vmName": "my-app", "command": "env", "env": {"\#(name)": "x"}"#))
        #expect(rejection.error.field == "env")
        #expect(rejection.error.code == .policyDenied)
        #expect(rejection.error.reason.contains(#""\#(name)""#))
        #expect(rejection.error.reason.contains("variable name"))
    }

    @Test("A job that is a string is not an object")
    func jobIsString() throws {
        let rejection = try rejectionOf(#""create my-app please""#)
        #expect(rejection.error.field == "job")
        #expect(rejection.error.code == .invalidJob)
        #expect(rejection.error.reason.contains("a string"))
        #expect(rejection.id == nil)
        #expect(rejection.attempt == nil)
        #expect(rejection.type == nil)
        #expect(rejection.ref == nil)
    }

    @Test("A job that is an array is not an object")
    func jobIsArray() throws {
        let rejection = try rejectionOf(#"[{"id": "job-1"}]"#)
        #expect(rejection.error.field == "job")
        #expect(rejection.error.reason.contains("an array"))
    }

    @Test(
        "A vmName Lima would refuse is refused",
        arguments: ["a b", "-x", "x-", "a..b", "x.yaml", "X.YML", String(repeating: "v", count: 77), ""])
    func invalidVMName(_ name: String) throws {
        let rejection = try rejectionOf(job(#""type": "start_vm", "vmName": "\#(name)""#))
        #expect(rejection.error.field == "vmName")
        #expect(rejection.error.code == .policyDenied)
        #expect(rejection.error.reason.contains("not a valid Lima instance name"))
        #expect(rejection.id == "job-1")
    }

    @Test(
        "A vmName Lima accepts is accepted",
        arguments: ["my-app", "a", "ubuntu-24.04", "a_b.c-d", String(repeating: "v", count: 76)])
    func validVMName(_ name: String) throws {
        #expect(try validJob(job(#""type": "start_vm", "vmName": "\#(name)""#)).parameters.vmName == name)
    }

    @Test("The message of a validation error is field: reason")
    func errorMessage() throws {
        let rejection = try rejectionOf(job(#""type": "start_vm""#))
        #expect(rejection.error.message == "vmName: \(rejection.error.reason)")
        #expect(rejection.error.description == rejection.error.message)
    }

    @Test("Decoding a bad job through JSONDecoder throws a JobValidationError")
    func jsonDecoderThrows() {
        #expect(throws: JobValidationError.self) {
            try WireTestJSON.decode(Job.self, from: job(#""type": "start_vm", "vmName": "-x""#))
        }
    }

    @Test("The JobValidationError JSONDecoder throws names the field")
    func jsonDecoderThrowsField() throws {
        let error = try #require(throws: JobValidationError.self) {
            try WireTestJSON.decode(Job.self, from: job(#""type": "create_vm", "vmName": "my-app""#))
        }
        #expect(error.field == "template")
        #expect(error.code == .invalidJob)
    }

    @Test("An unknown type thrown through JSONDecoder keeps its code")
    func jsonDecoderThrowsUnsupported() throws {
        let error = try #require(throws: JobValidationError.self) {
            try WireTestJSON.decode(Job.self, from: job(#""type": "snapshot_vm", "vmName": "my-app""#))
        }
        #expect(error.code == .unsupportedJobType)
    }
}

@Suite("Claim replies with bad jobs")
struct ClaimReplyValidationTests {
    @Test("A bad job between two good ones is rejected alone, in order")
    func middleJobMalformed() throws {
        let reply = try WireTestJSON.decode(
            ClaimReply.self,
            from: #"""
                {"jobs": [
                  {"id": "job-1", "type": "start_vm", "attempt": 1, "leaseExpiresAt": "2026-11-27T08:00:30Z",
                   "vmName": "web-1"},
                  {"id": "job-2", "type": "stop_vm", "attempt": 3, "leaseExpiresAt": "2026-11-27T08:00:30Z",
                   "vmName": ["not", "a", "name"]},
                  {"id": "job-3", "type": "list_vms", "attempt": 1, "leaseExpiresAt": "2026-11-27T08:00:30Z"}
                ]}
                """#)
        let decoded = reply.decodedJobs()
        try #require(decoded.count == 3)
        #expect(
            decoded[0]
                == JobDecoding.valid(
                    Job(
                        id: "job-1", attempt: 1, leaseExpiresAt: leaseTime,
                        parameters: .startVM(JobParameters.VMTarget(vmName: "web-1")))))
        guard case .invalid(let rejection) = decoded[1] else {
            Issue.record("expected the middle job to be rejected, got \(decoded[1])")
            return
        }
        #expect(rejection.id == "job-2")
        #expect(rejection.attempt == 3)
        #expect(rejection.type == "stop_vm")
        #expect(rejection.error.field == "vmName")
        #expect(
            decoded[2]
                == JobDecoding.valid(Job(id: "job-3", attempt: 1, leaseExpiresAt: leaseTime, parameters: .listVMs)))
    }

    @Test("A claim reply whose job is not even an object still decodes")
    func nonObjectJob() throws {
        let reply = try WireTestJSON.decode(ClaimReply.self, from: #"{"jobs": [42, \#(JobFixture.startVM.json)]}"#)
        let decoded = reply.decodedJobs()
        try #require(decoded.count == 2)
        guard case .invalid(let rejection) = decoded[0] else {
            Issue.record("expected the number to be rejected, got \(decoded[0])")
            return
        }
        #expect(rejection.error.field == "job")
        #expect(decoded[1] == JobDecoding.valid(JobFixture.startVM.expected))
    }
}

@Suite("Rejected results")
struct RejectedResultTests {
    private let at = utc(1_795_766_431)

    @Test("A rejection becomes a rejected result under the job's id and attempt")
    func rejectedResult() throws {
        let rejection = try rejectionOf(job(id: "job-10", attempt: "3", #""type": "start_vm""#))
        let result = try #require(JobResult.rejected(rejection, at: at))
        #expect(
            result
                == JobResult(
                    jobId: "job-10", attempt: 3, type: "start_vm", status: .rejected, startedAt: at, finishedAt: at,
                    duration: 0, exitCode: nil, stdout: nil, stderr: nil, outputTruncated: nil, data: nil,
                    error: WireError(code: .invalidJob, message: "vmName: is required")))
    }

    @Test("A rejected result's message is field: reason")
    func rejectedMessage() throws {
        let rejection = try rejectionOf(job(#""type": "stop_vm", "vmName": "my-app", "force": 1"#))
        let result = try #require(JobResult.rejected(rejection, at: at))
        let message = try #require(result.error?.message)
        #expect(message.hasPrefix("force: "))
        #expect(message.contains("boolean"))
    }

    @Test("An unknown type is rejected as unsupported_job_type, echoing the type")
    func rejectedUnsupported() throws {
        let rejection = try rejectionOf(job(id: "job-11", #""type": "reboot_vm""#))
        let result = try #require(JobResult.rejected(rejection, at: at))
        #expect(result.status == .rejected)
        #expect(result.type == "reboot_vm")
        #expect(result.error?.code == ErrorCode.unsupportedJobType)
        #expect(result.error?.message.hasPrefix("type: ") == true)
    }

    @Test("A rejection with no usable attempt is reported as attempt 1")
    func rejectedWithoutAttempt() throws {
        let rejection = try rejectionOf(job(id: "job-12", attempt: "null", #""type": "start_vm", "vmName": "my-app""#))
        let result = try #require(JobResult.rejected(rejection, at: at))
        #expect(result.ref == JobRef(jobId: "job-12", attempt: 1))
    }

    @Test("A rejection with no id has no result to report")
    func rejectedWithoutID() throws {
        let notAnObject = try rejectionOf("17")
        #expect(JobResult.rejected(notAnObject, at: at) == nil)
        let emptyID = try rejectionOf(job(id: "", #""type": "start_vm", "vmName": "my-app""#))
        #expect(JobResult.rejected(emptyID, at: at) == nil)
    }

    @Test("A rejected result is written with status rejected and its error")
    func rejectedEncodes() throws {
        let rejection = try rejectionOf(job(id: "job-10", #""type": "start_vm""#))
        let result = try #require(JobResult.rejected(rejection, at: at))
        try expectEncodes(
            result,
            to: #"""
                {"jobId": "job-10", "attempt": 1, "type": "start_vm", "status": "rejected",
                 "startedAt": "2026-11-27T08:00:31Z", "finishedAt": "2026-11-27T08:00:31Z", "duration": 0,
                 "error": {"code": "invalid_job", "message": "vmName: is required"}}
                """#)
    }
}
