import Foundation

/// The signed form of a job (§4.3): what to do sits inside `payload`, signed
/// with Ed25519; the fields that change per hand-out stay outside.
public struct SignedJob: Codable, Sendable, Equatable {
    public var id: String
    public var attempt: Int
    public var leaseExpiresAt: Date
    public var keyId: String
    /// base64url (padding optional) of the job object's JSON bytes.
    public var payload: String
    /// base64url of the Ed25519 signature over exactly the decoded payload bytes.
    public var signature: String

    public init(id: String, attempt: Int, leaseExpiresAt: Date, keyId: String, payload: String, signature: String) {
        self.id = id
        self.attempt = attempt
        self.leaseExpiresAt = leaseExpiresAt
        self.keyId = keyId
        self.payload = payload
        self.signature = signature
    }

    /// Whether a delivered job is in the signed form (it carries a `payload`).
    public static func isSignedForm(_ value: JSONValue) -> Bool {
        value["payload"] != nil
    }

    /// Decodes base64url with or without `=` padding; nil when it is not base64url.
    public static func base64URLDecode(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64.append("=") }
        return Data(base64Encoded: base64)
    }

    /// base64url without padding.
    public static func base64URLEncode(_ data: Data) -> String {
        data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
