import Foundation
import Testing

@testable import Models

/// Every JSON example of control-plane-api.md, both ways: the golden JSON decodes to the hand-built
/// value, and the hand-built value encodes to JSON that means the same as the golden JSON.
@Suite("Golden JSON of control-plane-api.md")
struct GoldenJSONTests {
    // MARK: §2

    @Test("The §2 error body decodes")
    func errorBodyDecodes() throws {
        try expectDecodes(Example.errorBody, to: Example.errorBodyValue)
    }

    @Test("The §2 error body encodes")
    func errorBodyEncodes() throws {
        try expectEncodes(Example.errorBodyValue, to: Example.errorBody)
    }

    // MARK: §3

    @Test("The §3 register body decodes")
    func registerDecodes() throws {
        try expectDecodes(Example.register, to: Example.registerValue)
    }

    @Test("The §3 register body encodes")
    func registerEncodes() throws {
        try expectEncodes(Example.registerValue, to: Example.register)
    }

    @Test("The §3 register response decodes")
    func registerReplyDecodes() throws {
        try expectDecodes(Example.registerReply, to: Example.registerReplyValue)
    }

    @Test("The §3 register response encodes")
    func registerReplyEncodes() throws {
        try expectEncodes(Example.registerReplyValue, to: Example.registerReply)
    }

    // MARK: §4

    @Test("The §4 claim request decodes")
    func claimDecodes() throws {
        try expectDecodes(Example.claim, to: Example.claimValue)
    }

    @Test("The §4 claim request encodes")
    func claimEncodes() throws {
        try expectEncodes(Example.claimValue, to: Example.claim)
    }

    @Test("The §4 claim response decodes, keeping its job as raw JSON")
    func claimReplyDecodes() throws {
        try expectDecodes(Example.claimReply, to: Example.claimReplyValue)
    }

    @Test("The §4 claim response encodes")
    func claimReplyEncodes() throws {
        try expectEncodes(Example.claimReplyValue, to: Example.claimReply)
    }

    @Test("The §4 claim response's job decodes into the §4.1 job")
    func claimReplyJobsDecode() throws {
        let reply = try WireTestJSON.decode(ClaimReply.self, from: Example.claimReply)
        #expect(reply.decodedJobs() == [JobDecoding.valid(Example.jobValue)])
    }

    @Test("The §4.1 job object decodes through JSONDecoder")
    func jobDecodes() throws {
        try expectDecodes(Example.job, to: Example.jobValue)
    }

    @Test("The §4.1 job object decodes through JobDecoder")
    func jobDecodesThroughJobDecoder() throws {
        #expect(try decodeJob(Example.job) == .valid(Example.jobValue))
    }

    @Test("The §4.1 job object encodes flat, with config.start written out")
    func jobEncodes() throws {
        try expectEncodes(Example.jobValue, to: Example.jobAsWritten)
    }

    @Test("The §4.1 execute_command example decodes")
    func executeCommandExampleDecodes() throws {
        try expectDecodes(Example.executeCommandJob, to: Example.executeCommandJobValue)
    }

    @Test("The §4.1 execute_command example encodes")
    func executeCommandExampleEncodes() throws {
        try expectEncodes(Example.executeCommandJobValue, to: Example.executeCommandJob)
    }

    // MARK: §4.3

    @Test("The §4.3 signed job decodes")
    func signedJobDecodes() throws {
        try expectDecodes(Example.signedJob, to: Example.signedJobValue)
    }

    @Test("The §4.3 signed job encodes")
    func signedJobEncodes() throws {
        try expectEncodes(Example.signedJobValue, to: Example.signedJob)
    }

    // MARK: §5

    @Test("The §5.1 heartbeat decodes")
    func heartbeatDecodes() throws {
        try expectDecodes(Example.heartbeat, to: Example.heartbeatValue)
    }

    @Test("The §5.1 heartbeat encodes")
    func heartbeatEncodes() throws {
        try expectEncodes(Example.heartbeatValue, to: Example.heartbeat)
    }

    @Test("The §5.2 result decodes")
    func resultDecodes() throws {
        try expectDecodes(Example.result, to: Example.resultValue)
    }

    @Test("The §5.2 result encodes, finishedAt with its milliseconds")
    func resultEncodes() throws {
        try expectEncodes(Example.resultValue, to: Example.result)
    }

    @Test("The §5.2 result's data reads back as the VM")
    func resultDataIsTheVM() throws {
        let result = try WireTestJSON.decode(JobResult.self, from: Example.result)
        let data = try #require(result.data)
        #expect(try data.decode(as: VMInfo.self) == Example.vmInfoValue)
    }

    @Test("The §5.3 log chunk decodes")
    func logDecodes() throws {
        try expectDecodes(Example.log, to: Example.logValue)
    }

    @Test("The §5.3 log chunk encodes")
    func logEncodes() throws {
        try expectEncodes(Example.logValue, to: Example.log)
    }

    @Test("The §5.3 metrics sample decodes")
    func sampleDecodes() throws {
        try expectDecodes(Example.sample, to: Example.sampleValue)
    }

    @Test("The §5.3 metrics sample encodes")
    func sampleEncodes() throws {
        try expectEncodes(Example.sampleValue, to: Example.sample)
    }

    @Test("The §5 report decodes with every section")
    func reportDecodes() throws {
        try expectDecodes(Example.report, to: Example.reportValue)
    }

    @Test("The §5 report encodes with every section")
    func reportEncodes() throws {
        try expectEncodes(Example.reportValue, to: Example.report)
    }

    @Test("The §5.4 report response decodes")
    func reportReplyDecodes() throws {
        try expectDecodes(Example.reportReply, to: Example.reportReplyValue)
    }

    @Test("The §5.4 report response encodes")
    func reportReplyEncodes() throws {
        try expectEncodes(Example.reportReplyValue, to: Example.reportReply)
    }
}
