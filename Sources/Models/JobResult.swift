import Foundation

/// One job's result (§5.2). `error` is present for every status but `succeeded`.
public struct JobResult: Codable, Sendable, Equatable {
    public var jobId: String
    public var attempt: Int
    /// The job type as delivered (a string, so an unknown type can be echoed back).
    public var type: String
    public var status: ResultStatus
    public var startedAt: Date?
    public var finishedAt: Date?
    /// Milliseconds.
    public var duration: Int?
    public var exitCode: Int?
    public var stdout: String?
    public var stderr: String?
    public var outputTruncated: Bool?
    public var data: JSONValue?
    public var error: WireError?

    public init(
        jobId: String, attempt: Int, type: String, status: ResultStatus, startedAt: Date? = nil,
        finishedAt: Date? = nil, duration: Int? = nil, exitCode: Int? = nil, stdout: String? = nil,
        stderr: String? = nil, outputTruncated: Bool? = nil, data: JSONValue? = nil, error: WireError? = nil
    ) {
        self.jobId = jobId
        self.attempt = attempt
        self.type = type
        self.status = status
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.duration = duration
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
        self.outputTruncated = outputTruncated
        self.data = data
        self.error = error
    }

    public var ref: JobRef { JobRef(jobId: jobId, attempt: attempt) }

    /// A `rejected` result for a job that failed validation; nil when it has no id to report under.
    public static func rejected(_ rejection: JobRejection, at date: Date) -> JobResult? {
        guard let ref = rejection.ref else { return nil }
        return JobResult(
            jobId: ref.jobId, attempt: ref.attempt, type: rejection.type ?? "unknown", status: .rejected,
            startedAt: date, finishedAt: date, duration: 0,
            error: WireError(code: rejection.error.code, message: rejection.error.message))
    }
}
