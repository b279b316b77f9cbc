/// An error response body: `{"error": {"code": "string", "message": "string"}}` (§2).
public struct ErrorResponse: Codable, Sendable, Equatable {
    public var error: WireError

    public init(error: WireError) { self.error = error }
    public init(code: String, message: String) { self.error = WireError(code: ErrorCode(code), message: message) }
}
