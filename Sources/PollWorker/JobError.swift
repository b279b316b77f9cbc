import Models

/// Why a job did not succeed: the result's status and its wire error. All job
/// failures map to the wire here, in one place.
public struct JobError: Error, Sendable, Equatable {
    public var status: ResultStatus
    public var code: ErrorCode
    public var message: String

    public init(_ status: ResultStatus, _ code: ErrorCode, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var wire: WireError { WireError(code: code, message: message) }

    public static func rejected(_ code: ErrorCode, _ message: String) -> JobError {
        JobError(.rejected, code, message)
    }

    public static func failed(_ code: ErrorCode, _ message: String) -> JobError {
        JobError(.failed, code, message)
    }

    public static func timedOut(_ message: String) -> JobError {
        JobError(.timedOut, .timeout, message)
    }

    public static func cancelled(_ message: String) -> JobError {
        JobError(.cancelled, .cancelled, message)
    }

    /// A deadline that passed or a cancellation, for any subprocess of a job; nil otherwise.
    public static func stopped(_ outcome: CommandOutcome, action: String) -> JobError? {
        if outcome.timedOut { return .timedOut("\(action) did not finish before the job's deadline") }
        if outcome.cancelled { return .cancelled("\(action) was cancelled") }
        return nil
    }

    /// A guest command's non-zero exit (not a limactl failure).
    public static let commandFailed = ErrorCode("command_failed")
}
