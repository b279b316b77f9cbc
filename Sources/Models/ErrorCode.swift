/// A result's `error.code` (§5.2). A struct rather than an enum so that codes a
/// newer control plane sends still decode.
public struct ErrorCode: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    public static let invalidJob = ErrorCode("invalid_job")
    public static let unsupportedJobType = ErrorCode("unsupported_job_type")
    public static let policyDenied = ErrorCode("policy_denied")
    public static let resourceLimitExceeded = ErrorCode("resource_limit_exceeded")
    public static let signatureInvalid = ErrorCode("signature_invalid")
    public static let vmNotFound = ErrorCode("vm_not_found")
    public static let vmExists = ErrorCode("vm_exists")
    public static let limactlUnavailable = ErrorCode("limactl_unavailable")
    public static let limactlFailed = ErrorCode("limactl_failed")
    public static let timeout = ErrorCode("timeout")
    public static let cancelled = ErrorCode("cancelled")
    public static let agentRestarted = ErrorCode("agent_restarted")
    public static let approvalDenied = ErrorCode("approval_denied")
    public static let approvalTimeout = ErrorCode("approval_timeout")
    public static let backupFailed = ErrorCode("backup_failed")
    public static let `internal` = ErrorCode("internal")

    /// Every code §5.2 names, in its order.
    public static let documented: [ErrorCode] = [
        .invalidJob, .unsupportedJobType, .policyDenied, .resourceLimitExceeded, .signatureInvalid,
        .vmNotFound, .vmExists, .limactlUnavailable, .limactlFailed, .timeout, .cancelled,
        .agentRestarted, .approvalDenied, .approvalTimeout, .backupFailed, .internal,
    ]
}
