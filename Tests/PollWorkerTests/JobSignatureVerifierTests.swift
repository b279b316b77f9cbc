import Crypto
import Foundation
import Models
import Testing

@testable import PollWorker

private let keyID = "cp-2026"
private let outerLease = fixedNow.addingTimeInterval(300)

/// The signed job's bytes: the inner attempt and lease differ from the outer ones on
/// purpose (the outer ones must win). A space pads it so its base64 needs `=` padding.
private func payloadBytes(id: String = "job-1", vmName: String = "dev") -> Data {
    var data = Data(
        #"{"id":"\#(id)","attempt":9,"type":"stop_vm","leaseExpiresAt":"2000-01-01T00:00:00Z","timeout":5000,"vmName":"\#(vmName)","force":true}"#
            .utf8)
    while data.count % 3 == 0 { data.append(contentsOf: Data(" ".utf8)) }
    return data
}

/// The job `payloadBytes()` carries, as delivered with attempt 2 and `outerLease`.
private let expectedJob = Job(
    id: "job-1", attempt: 2, leaseExpiresAt: outerLease, timeout: 5000, keyId: keyID,
    parameters: .stopVM(.init(vmName: "dev", force: true)))

private func padded(_ text: String) -> String {
    text + String(repeating: "=", count: (4 - text.count % 4) % 4)
}

/// The control plane's side: a key pair and signed deliveries.
private struct Signer {
    let key = Curve25519.Signing.PrivateKey()

    var publicKey: String { key.publicKey.rawRepresentation.base64EncodedString() }

    func verifier() throws -> JobSignatureVerifier {
        try #require(JobSignatureVerifier(keys: [keyID: publicKey]))
    }

    func sign(_ payload: Data) throws -> Data {
        try key.signature(for: payload)
    }

    /// A delivery in the signed form. Outer `type` and `vmName` are noise the verifier must ignore.
    func delivery(
        id: String = "job-1", keyId: String? = keyID, payload: String, signature: String?
    ) -> JSONValue {
        var object: [String: JSONValue] = [
            "id": .string(id), "attempt": .int(2), "leaseExpiresAt": .string(RFC3339.format(outerLease)),
            "payload": .string(payload), "type": .string("delete_vm"), "vmName": .string("prod"),
        ]
        if let keyId { object["keyId"] = .string(keyId) }
        if let signature { object["signature"] = .string(signature) }
        return .object(object)
    }

    /// `payload` signed with this key, both base64url without padding.
    func signedDelivery(_ payload: Data = payloadBytes(), id: String = "job-1") throws -> JSONValue {
        delivery(
            id: id, payload: SignedJob.base64URLEncode(payload),
            signature: SignedJob.base64URLEncode(try sign(payload)))
    }
}

/// The ways a signed delivery can be wrong, each refused under the field named.
enum SignatureFault: String, CaseIterable, Sendable {
    case keyIdMissing, unknownKey, signatureMissing, signatureNotBase64URL, wrongKey, payloadAltered
    case payloadNotBase64URL, payloadNotJSON, payloadNotObject, innerIDDiffers, innerIDMissing

    var field: String {
        switch self {
        case .keyIdMissing, .unknownKey: "keyId"
        case .signatureMissing, .signatureNotBase64URL, .wrongKey, .payloadAltered: "signature"
        case .payloadNotBase64URL, .payloadNotJSON, .payloadNotObject: "payload"
        case .innerIDDiffers, .innerIDMissing: "payload.id"
        }
    }

    fileprivate func delivery(_ signer: Signer) throws -> JSONValue {
        let payload = payloadBytes()
        let encoded = SignedJob.base64URLEncode(payload)
        let signature = SignedJob.base64URLEncode(try signer.sign(payload))
        switch self {
        case .keyIdMissing:
            return signer.delivery(keyId: nil, payload: encoded, signature: signature)
        case .unknownKey:
            return signer.delivery(keyId: "someone-else", payload: encoded, signature: signature)
        case .signatureMissing:
            return signer.delivery(payload: encoded, signature: nil)
        case .signatureNotBase64URL:
            return signer.delivery(payload: encoded, signature: "not*base64")
        case .wrongKey:
            let other = Curve25519.Signing.PrivateKey()
            return signer.delivery(
                payload: encoded, signature: SignedJob.base64URLEncode(try other.signature(for: payload)))
        case .payloadAltered:
            // Signed for "dev", delivered for "prod".
            let altered = SignedJob.base64URLEncode(payloadBytes(vmName: "prod"))
            return signer.delivery(payload: altered, signature: signature)
        case .payloadNotBase64URL:
            return signer.delivery(payload: "***", signature: signature)
        case .payloadNotJSON:
            return try signer.signedDelivery(Data("stop_vm dev".utf8))
        case .payloadNotObject:
            return try signer.signedDelivery(Data(#"["job-1"]"#.utf8))
        case .innerIDDiffers:
            return try signer.signedDelivery(payloadBytes(id: "job-2"))
        case .innerIDMissing:
            return try signer.signedDelivery(Data(#"{"attempt":1,"type":"list_vms"}"#.utf8))
        }
    }
}

/// The rejection of an invalid decoding, or nil for a valid one.
private func rejection(_ decoding: JobDecoding) -> JobRejection? {
    if case .invalid(let rejection) = decoding { return rejection }
    return nil
}

@Suite("JobSignatureVerifier")
struct JobSignatureVerifierTests {
    @Test("A validly signed job opens to the payload's job with the outer attempt and lease")
    func validJob() throws {
        let signer = Signer()
        let decoding = try signer.verifier().open(signer.signedDelivery())
        #expect(decoding == .valid(expectedJob))
    }

    @Test("Payload and signature are accepted with and without = padding")
    func padding() throws {
        let signer = Signer()
        let payload = payloadBytes()
        let encodedPayload = SignedJob.base64URLEncode(payload)
        let encodedSignature = SignedJob.base64URLEncode(try signer.sign(payload))
        try #require(padded(encodedPayload) != encodedPayload, "the test payload must need padding")
        try #require(padded(encodedSignature) != encodedSignature)
        let verifier = try signer.verifier()
        for (payloadText, signatureText) in [
            (encodedPayload, encodedSignature), (padded(encodedPayload), padded(encodedSignature)),
            (padded(encodedPayload), encodedSignature), (encodedPayload, padded(encodedSignature)),
        ] {
            let delivered = signer.delivery(payload: payloadText, signature: signatureText)
            #expect(verifier.open(delivered) == .valid(expectedJob))
        }
    }

    @Test("An unsigned job is refused with signature_invalid under the outer id and attempt")
    func unsigned() throws {
        let signer = Signer()
        let plain = JSONValue.object(
            expectedJob.wireObject().merging(["keyId": .string(keyID), "signature": .string("AAAA")]) { $1 })
        let verifier = try signer.verifier()
        let refused = try #require(rejection(verifier.open(plain)))
        #expect(refused.id == "job-1")
        #expect(refused.attempt == 2)
        #expect(refused.type == nil)
        #expect(refused.error.code == .signatureInvalid)
        #expect(refused.error.field == "payload")
        #expect(refused.error.reason.contains("security.jobSigningKeys"))
    }

    @Test(
        "A signed delivery that is wrong in any way is refused with signature_invalid",
        arguments: SignatureFault.allCases)
    func faults(fault: SignatureFault) throws {
        let signer = Signer()
        let delivered = try fault.delivery(signer)
        let refused = try #require(rejection(try signer.verifier().open(delivered)))
        #expect(refused.id == "job-1")
        #expect(refused.attempt == 2)
        #expect(refused.type == nil)
        #expect(refused.error.code == .signatureInvalid)
        #expect(refused.error.field == fault.field)
        #expect(refused.ref == JobRef(jobId: "job-1", attempt: 2))
    }

    @Test("A delivery signed with a second configured key verifies with that key")
    func secondKey() throws {
        let first = Signer()
        let second = Signer()
        let verifier = try #require(
            JobSignatureVerifier(keys: ["first": first.publicKey, "second": second.publicKey]))
        let payload = payloadBytes()
        let delivered = second.delivery(
            keyId: "second", payload: SignedJob.base64URLEncode(payload),
            signature: SignedJob.base64URLEncode(try second.sign(payload)))
        var expected = expectedJob
        expected.keyId = "second"
        #expect(verifier.open(delivered) == .valid(expected))
        // The same bytes under the other key's id do not verify.
        let mislabelled = second.delivery(
            keyId: "first", payload: SignedJob.base64URLEncode(payload),
            signature: SignedJob.base64URLEncode(try second.sign(payload)))
        #expect(rejection(verifier.open(mislabelled))?.error.field == "signature")
    }

    @Test("No keys means no verifier")
    func noKeys() {
        #expect(JobSignatureVerifier(keys: [:]) == nil)
    }

    @Test(
        "A key that is not 32 bytes of base64 means no verifier",
        arguments: [
            Data(repeating: 7, count: 31).base64EncodedString(), Data(repeating: 7, count: 33).base64EncodedString(),
            Data(repeating: 7, count: 64).base64EncodedString(), "", "not base64 at all!",
        ])
    func badKey(text: String) {
        #expect(JobSignatureVerifier(keys: [keyID: text]) == nil)
        #expect(JobSignatureVerifier(keys: ["good": Signer().publicKey, keyID: text]) == nil)
    }

    @Test("A key given in base64url without padding is read too")
    func base64URLKey() throws {
        let signer = Signer()
        let raw = signer.key.publicKey.rawRepresentation
        let verifier = try #require(JobSignatureVerifier(keys: [keyID: SignedJob.base64URLEncode(raw)]))
        #expect(try verifier.open(signer.signedDelivery()) == .valid(expectedJob))
    }
}

@Suite("JobIntake")
struct JobIntakeTests {
    private func config(signingKeys: [String: String] = [:]) -> AgentConfig {
        var config = AgentConfig(agentId: "host-1", agentName: "host-1")
        config.templatesDir = "/t"
        config.security.jobSigningKeys = signingKeys
        return config
    }

    private func plainJob(_ fields: [String: JSONValue]) -> JSONValue {
        let envelope: [String: JSONValue] = [
            "id": .string("job-1"), "attempt": .int(1), "leaseExpiresAt": .string(RFC3339.format(outerLease)),
        ]
        return .object(envelope.merging(fields) { $1 })
    }

    @Test("With signing keys configured, an unsigned job is rejected with signature_invalid")
    func unsignedRejected() throws {
        let signer = Signer()
        let intake = JobIntake(config: config(signingKeys: [keyID: signer.publicKey]))
        let refused = try #require(rejection(intake.admit(plainJob(["type": .string("list_vms")]))))
        #expect(refused.error.code == .signatureInvalid)
        let result = try #require(JobResult.rejected(refused, at: fixedNow))
        #expect(result.status == .rejected)
        #expect(result.ref == JobRef(jobId: "job-1", attempt: 1))
        #expect(result.error?.code == .signatureInvalid)
    }

    @Test("With signing keys configured, a signed job passes")
    func signedPasses() throws {
        let signer = Signer()
        let intake = JobIntake(config: config(signingKeys: [keyID: signer.publicKey]))
        #expect(try intake.admit(signer.signedDelivery()) == .valid(expectedJob))
    }

    @Test("Without a verifier a valid job passes as decoded")
    func noVerifier() {
        let intake = JobIntake(verifier: nil, policy: JobPolicy(config: config(), readFile: { _ in nil }))
        let expected = Job(id: "job-1", attempt: 1, leaseExpiresAt: outerLease, parameters: .listVMs)
        #expect(intake.admit(plainJob(["type": .string("list_vms")])) == .valid(expected))
        #expect(intake.admit([plainJob(["type": .string("list_vms")])]) == [.valid(expected)])
    }

    @Test("A policy refusal comes back invalid with the policy's code and message")
    func policyRefusal() throws {
        let policy = JobPolicy(config: config(), readFile: { _ in nil })
        let intake = JobIntake(verifier: nil, policy: policy)
        let delivered = plainJob([
            "type": .string("create_vm"), "vmName": .string("web"), "template": .string("windows"),
        ])
        guard case .valid(let job) = JobDecoder.decode(delivered) else {
            Issue.record("the delivered job must decode")
            return
        }
        let policyError = try #require(throws: JobError.self) { try policy.check(job) }
        let refused = try #require(rejection(intake.admit(delivered)))
        #expect(refused.id == "job-1")
        #expect(refused.attempt == 1)
        #expect(refused.type == "create_vm")
        #expect(refused.error.code == .policyDenied)
        #expect(refused.error.field == "template")
        #expect(refused.error.message == policyError.message)
        #expect(refused.error.message.contains("security.allowedVmTemplates"))
    }

    @Test("A resource limit refusal keeps its code")
    func limitRefusal() throws {
        let intake = JobIntake(
            verifier: nil, policy: JobPolicy(config: config(), readFile: { _ in Data("cpus: 2\n".utf8) }))
        let delivered = plainJob([
            "type": .string("create_vm"), "vmName": .string("web"), "template": .string("webapp"),
            "config": .object(["cpus": .int(64)]),
        ])
        let refused = try #require(rejection(intake.admit(delivered)))
        #expect(refused.error.code == .resourceLimitExceeded)
        #expect(refused.error.message.contains("resourceLimits.maxCpuPerVm"))
    }

    @Test("A signed job is still checked against the policy after its signature")
    func signedThenPolicy() throws {
        let signer = Signer()
        let payload = Data(
            #"{"id":"job-1","type":"execute_command","vmName":"dev","command":"rm -rf /"}"#.utf8)
        var settings = config(signingKeys: [keyID: signer.publicKey])
        settings.security.allowedCommands = ["echo"]
        let intake = JobIntake(config: settings)
        let delivered = try signer.signedDelivery(payload)
        let refused = try #require(rejection(intake.admit(delivered)))
        #expect(refused.error.code == .policyDenied)
        #expect(refused.attempt == 2)
    }
}
