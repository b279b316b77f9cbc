import Foundation
import Models

/// Turns a claim reply's raw jobs into jobs to run or refusals, in the order the
/// checks must come: the signature first (when keys are configured), then
/// decoding, then the policy rules that need no VM. A refusal becomes a
/// `rejected` result at once; nothing of it runs.
public struct JobIntake: Sendable {
    let verifier: JobSignatureVerifier?
    let policy: JobPolicy

    public init(verifier: JobSignatureVerifier?, policy: JobPolicy) {
        self.verifier = verifier
        self.policy = policy
    }

    public init(config: AgentConfig) {
        self.init(
            verifier: JobSignatureVerifier(keys: config.security.jobSigningKeys), policy: JobPolicy(config: config))
    }

    public func admit(_ delivered: [JSONValue]) -> [JobDecoding] {
        delivered.map(admit)
    }

    public func admit(_ delivered: JSONValue) -> JobDecoding {
        let decoding = verifier.map { $0.open(delivered) } ?? JobDecoder.decode(delivered)
        guard case .valid(let job) = decoding else { return decoding }
        do throws(JobError) {
            try policy.check(job)
            return decoding
        } catch {
            let field = error.message.split(separator: ":", maxSplits: 1).first.map(String.init) ?? "job"
            let reason =
                error.message.split(separator: ":", maxSplits: 1).dropFirst().first
                .map { $0.trimmingCharacters(in: .whitespaces) } ?? error.message
            return .invalid(
                JobRejection(
                    id: job.id, attempt: job.attempt, type: job.type.rawValue,
                    error: JobValidationError(field: field, reason: reason, code: error.code)))
        }
    }
}
