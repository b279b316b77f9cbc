/// Why a job cannot be run as delivered, naming the field: reported `rejected`.
public struct JobValidationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The JSON path of the offending field, e.g. `config.cpus` or `argv[2]`.
    public var field: String
    public var reason: String
    /// `invalid_job`, or `unsupported_job_type` for an unknown `type`.
    public var code: ErrorCode

    public init(field: String, reason: String, code: ErrorCode = .invalidJob) {
        self.field = field
        self.reason = reason
        self.code = code
    }

    public var message: String { "\(field): \(reason)" }
    public var description: String { message }
}
