import Crypto
import Foundation
import Models

/// Signed jobs (control-plane-api.md §4.3). With `security.jobSigningKeys` set,
/// every delivered job must be in the signed form: a known `keyId`, an Ed25519
/// signature over exactly the decoded `payload` bytes, and an inner `id` equal to
/// the outer one. Anything else is refused with `signature_invalid` under the
/// outer id and attempt, and nothing of it runs. The job is then decoded from the
/// payload alone, with only `attempt` and `leaseExpiresAt` taken from outside.
public struct JobSignatureVerifier: Sendable {
    let keys: [String: Curve25519.Signing.PublicKey]

    /// Nil when no key is configured (signatures are then not required), or when a key
    /// cannot be read (the configuration check refuses that before the agent starts).
    public init?(keys encoded: [String: String]) {
        guard !encoded.isEmpty else { return nil }
        var keys: [String: Curve25519.Signing.PublicKey] = [:]
        for (keyID, text) in encoded {
            guard let raw = Data(base64Encoded: text) ?? SignedJob.base64URLDecode(text),
                let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
            else { return nil }
            keys[keyID] = key
        }
        self.keys = keys
    }

    /// The job the signed delivery carries, or why it is refused.
    public func open(_ delivered: JSONValue) -> JobDecoding {
        let outerID = delivered["id"].flatMap { if case .string(let id) = $0 { id } else { nil } }
        let outerAttempt = delivered["attempt"].flatMap { if case .int(let n) = $0 { Int(n) } else { nil } }
        func refuse(_ field: String, _ reason: String) -> JobDecoding {
            .invalid(
                JobRejection(
                    id: outerID, attempt: outerAttempt, type: nil,
                    error: JobValidationError(field: field, reason: reason, code: .signatureInvalid)))
        }
        guard SignedJob.isSignedForm(delivered) else {
            return refuse("payload", "the job is not signed, and security.jobSigningKeys requires every job to be")
        }
        guard case .string(let keyID)? = delivered["keyId"] else {
            return refuse("keyId", "missing: a signed job names the key it is signed with")
        }
        guard let key = keys[keyID] else {
            return refuse("keyId", "\"\(keyID)\" is not in security.jobSigningKeys")
        }
        guard case .string(let payloadText)? = delivered["payload"],
            let payload = SignedJob.base64URLDecode(payloadText)
        else {
            return refuse("payload", "is not base64url")
        }
        guard case .string(let signatureText)? = delivered["signature"],
            let signature = SignedJob.base64URLDecode(signatureText)
        else {
            return refuse("signature", "missing or not base64url")
        }
        guard key.isValidSignature(signature, for: payload) else {
            return refuse("signature", "does not verify with key \"\(keyID)\" over the payload")
        }
        guard let inner = try? WireJSON.decoder().decode(JSONValue.self, from: payload),
            var object = inner.objectValue
        else {
            return refuse("payload", "the signed bytes are not a JSON object")
        }
        guard case .string(let innerID)? = object["id"], innerID == outerID else {
            return refuse("payload.id", "the signed job's id does not equal the delivered id")
        }
        // The delivery fields that change per hand-out come from outside the signature.
        object["attempt"] = delivered["attempt"]
        object["leaseExpiresAt"] = delivered["leaseExpiresAt"]
        object["keyId"] = .string(keyID)
        return JobDecoder.decode(.object(object))
    }
}
