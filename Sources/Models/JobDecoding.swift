/// The outcome of decoding one delivered job.
public enum JobDecoding: Sendable, Equatable {
    case valid(Job)
    case invalid(JobRejection)
}

/// A job that failed validation, with whatever of its envelope could be read so
/// it can be reported `rejected` under its own id and attempt.
public struct JobRejection: Sendable, Equatable {
    /// The delivered `id` when it was a string (even one outside the rule).
    public var id: String?
    public var attempt: Int?
    /// The delivered `type` when it was a string.
    public var type: String?
    public var error: JobValidationError

    public init(id: String?, attempt: Int?, type: String?, error: JobValidationError) {
        self.id = id
        self.attempt = attempt
        self.type = type
        self.error = error
    }

    /// The reference to report under; nil when the delivery has no usable id at all.
    public var ref: JobRef? {
        guard let id, !id.isEmpty else { return nil }
        return JobRef(jobId: id, attempt: attempt ?? 1)
    }
}
