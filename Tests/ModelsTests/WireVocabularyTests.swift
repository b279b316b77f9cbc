import Foundation
import Testing

@testable import Models

@Suite("The wire's fixed vocabularies")
struct WireVocabularyTests {
    @Test("ErrorCode.documented holds the 16 codes of §5.2, in order")
    func documentedErrorCodes() {
        #expect(
            ErrorCode.documented.map(\.rawValue) == [
                "invalid_job", "unsupported_job_type", "policy_denied", "resource_limit_exceeded",
                "signature_invalid", "vm_not_found", "vm_exists", "limactl_unavailable", "limactl_failed",
                "timeout", "cancelled", "agent_restarted", "approval_denied", "approval_timeout", "backup_failed",
                "internal",
            ])
    }

    @Test("A known error code decodes to its named constant")
    func knownErrorCode() throws {
        let error = try WireTestJSON.decode(WireError.self, from: #"{"code": "vm_exists", "message": "taken"}"#)
        #expect(error.code == .vmExists)
        #expect(error.code != .vmNotFound)
    }

    @Test("An error code this agent does not know decodes and is written back unchanged")
    func unknownErrorCode() throws {
        let golden = #"{"code": "quota_exceeded", "message": "over the tenant quota"}"#
        let error = try WireTestJSON.decode(WireError.self, from: golden)
        #expect(error.code.rawValue == "quota_exceeded")
        #expect(!ErrorCode.documented.contains(error.code))
        try expectEncodes(error, to: golden)
    }

    @Test("An error code prints as its wire string")
    func errorCodeDescription() {
        #expect("\(ErrorCode.limactlFailed)" == "limactl_failed")
    }

    @Test("Result statuses are spelled as in §5.2")
    func resultStatuses() {
        #expect(
            ResultStatus.allCases.map(\.rawValue) == [
                "succeeded", "failed", "timed_out", "cancelled", "rejected", "interrupted",
            ])
    }

    @Test("timed_out decodes to timedOut")
    func timedOutDecodes() throws {
        let statuses = try WireTestJSON.decode([ResultStatus].self, from: #"["timed_out", "interrupted"]"#)
        #expect(statuses == [ResultStatus.timedOut, ResultStatus.interrupted])
    }

    @Test("A status outside §5.2 does not decode")
    func unknownStatus() {
        #expect(throws: DecodingError.self) {
            try WireTestJSON.decode([ResultStatus].self, from: #"["timedOut"]"#)
        }
    }

    @Test("Heartbeat states are spelled as in §5.1")
    func agentStates() throws {
        let states = try WireTestJSON.decode([AgentState].self, from: #"["running", "draining", "stopping"]"#)
        #expect(states == [AgentState.running, AgentState.draining, AgentState.stopping])
    }

    @Test("Log streams are spelled as in §5.3")
    func logStreams() {
        let streams: [LogChunk.Stream] = [.stdout, .stderr, .agent, .vm]
        #expect(streams.map(\.rawValue) == ["stdout", "stderr", "agent", "vm"])
    }

    @Test("Job types are the eleven of §4.2, in order")
    func jobTypes() {
        #expect(
            JobType.allCases.map(\.rawValue) == [
                "create_vm", "start_vm", "stop_vm", "restart_vm", "delete_vm", "execute_command", "get_vm_info",
                "list_vms", "backup_vm", "restore_vm", "collect_logs",
            ])
    }

    @Test("The §3 example's capabilities list every job type")
    func registerListsEveryJobType() throws {
        let registration = try WireTestJSON.decode(Registration.self, from: Example.register)
        #expect(registration.capabilities.jobTypes == JobType.allCases)
    }

    @Test("Only jobs that change a VM are marked as mutating")
    func mutatingJobTypes() {
        let readOnly = JobType.allCases.filter { !$0.mutatesVM }
        #expect(readOnly == [JobType.getVMInfo, JobType.listVMs, JobType.collectLogs])
    }
}
