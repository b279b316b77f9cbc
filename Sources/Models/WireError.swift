/// `{"code": "...", "message": "..."}`: a result's `error`, and the body of an error response.
public struct WireError: Codable, Sendable, Equatable, Error {
    public var code: ErrorCode
    public var message: String

    public init(code: ErrorCode, message: String) {
        self.code = code
        self.message = message
    }
}
