import Foundation
import Testing

@testable import Models

@Suite("Signed jobs and base64url")
struct SignedJobTests {
    @Test("base64url decodes without padding")
    func decodeWithoutPadding() {
        #expect(SignedJob.base64URLDecode("-_8") == Data([0xFB, 0xFF]))
        #expect(SignedJob.base64URLDecode("-g") == Data([0xFA]))
    }

    @Test("base64url decodes with padding")
    func decodeWithPadding() {
        #expect(SignedJob.base64URLDecode("-_8=") == Data([0xFB, 0xFF]))
        #expect(SignedJob.base64URLDecode("-g==") == Data([0xFA]))
    }

    @Test("base64url decodes the empty string to no bytes")
    func decodeEmpty() {
        #expect(SignedJob.base64URLDecode("") == Data())
    }

    @Test("Text that is not base64url does not decode", arguments: ["not base64!", "ab$d", "a+b?"])
    func decodeGarbage(_ text: String) {
        #expect(SignedJob.base64URLDecode(text) == nil)
    }

    @Test("base64url encoding uses - and _ and no padding")
    func encodeAlphabet() {
        #expect(SignedJob.base64URLEncode(Data([0xFB, 0xFF, 0xBF])) == "-_-_")
        #expect(SignedJob.base64URLEncode(Data([0xFB, 0xFF])) == "-_8")
        #expect(SignedJob.base64URLEncode(Data([0x3E, 0xFF, 0xFE, 0xFB, 0xEF, 0xBE])) == "Pv_-----")
        #expect(SignedJob.base64URLEncode(Data("hi".utf8)) == "aGk")
    }

    @Test("Every byte value survives encode then decode")
    func allBytesRoundTrip() throws {
        let bytes = Data(UInt8.min...UInt8.max)
        let text = SignedJob.base64URLEncode(bytes)
        #expect(text.contains("-"))
        #expect(text.contains("_"))
        #expect(!text.contains("+") && !text.contains("/") && !text.contains("="))
        #expect(SignedJob.base64URLDecode(text) == bytes)
    }

    @Test("Byte strings of every padding length survive encode then decode", arguments: 0...8)
    func lengthsRoundTrip(_ count: Int) {
        let bytes = Data((0..<count).map { UInt8(truncatingIfNeeded: 0xFB + $0 * 0x41) })
        #expect(SignedJob.base64URLDecode(SignedJob.base64URLEncode(bytes)) == bytes)
    }

    @Test("The §4.3 example's signature decodes to its bytes")
    func exampleSignature() {
        #expect(SignedJob.base64URLDecode(Example.signature) == Example.signatureBytes)
        #expect(SignedJob.base64URLEncode(Example.signatureBytes) == Example.signature)
    }

    @Test("The §4.3 example's payload decodes to the job's JSON bytes")
    func examplePayloadBytes() {
        #expect(SignedJob.base64URLDecode(Example.signedPayload) == Data(Example.signedPayloadText.utf8))
    }

    @Test("The §4.3 payload, with the outer delivery fields added, is the job the outer id names")
    func examplePayloadIsTheJob() throws {
        let signed = try WireTestJSON.decode(SignedJob.self, from: Example.signedJob)
        let bytes = try #require(SignedJob.base64URLDecode(signed.payload))
        var inner = try #require(try WireJSON.decoder().decode(JSONValue.self, from: bytes).objectValue)
        #expect(inner["id"] == JSONValue.string(signed.id))
        inner["attempt"] = .int(Int64(signed.attempt))
        inner["leaseExpiresAt"] = .string(RFC3339.format(signed.leaseExpiresAt))
        #expect(JobDecoder.decode(.object(inner)) == JobDecoding.valid(Example.jobValue))
    }

    @Test("A delivery with a payload is in the signed form, a plain job is not")
    func signedForm() throws {
        #expect(SignedJob.isSignedForm(try WireTestJSON.value(Example.signedJob)))
        #expect(!SignedJob.isSignedForm(try WireTestJSON.value(Example.job)))
        #expect(!SignedJob.isSignedForm(.string("payload")))
    }
}
