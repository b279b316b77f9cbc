import Foundation

/// Why a control plane call failed, classified by what the agent must do (§2).
public struct ControlPlaneError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// 401 or 403: bad or revoked key. Long back-off; `--drain` exits 3.
        case refused
        /// 404 on an agent path: register again.
        case unknownAgent
        /// 409: treat as delivered.
        case conflict
        /// 413: split the batch.
        case tooLarge
        /// 400: do not resend the same bytes.
        case badRequest
        /// 429 or 503, with the server's Retry-After when given.
        case throttled(retryAfter: Duration?)
        /// Other 5xx, timeouts, connection errors, unparsable bodies: retry with back-off.
        case transient
        /// The caller cancelled the request.
        case cancelled
        /// Not sent: the control plane's address is outside `security.allowedControlPlaneIps`.
        case notAllowed
    }

    public var kind: Kind
    public var status: Int?
    public var message: String

    public init(_ kind: Kind, status: Int? = nil, message: String) {
        self.kind = kind
        self.status = status
        self.message = message
    }

    public var description: String {
        if let status { return "HTTP \(status): \(message)" }
        return message
    }
}
