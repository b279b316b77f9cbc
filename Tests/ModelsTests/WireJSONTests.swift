import Foundation
import Testing

@testable import Models

@Suite("WireJSON: how the wire's JSON is written and read")
struct WireJSONTests {
    @Test("The encoder writes compact JSON with sorted keys")
    func sortedCompactKeys() throws {
        let request = ClaimRequest(
            capacity: 3, wait: 30_000, held: [JobRef(jobId: "job-41", attempt: 1)], draining: false)
        #expect(
            try WireTestJSON.encodedText(request)
                == #"{"capacity":3,"draining":false,"held":[{"attempt":1,"jobId":"job-41"}],"wait":30000}"#)
    }

    @Test("The encoder leaves slashes in paths unescaped")
    func slashesUnescaped() throws {
        let disk = DiskUsage(path: "/var/lib", totalBytes: 1, usedBytes: 0)
        #expect(try WireTestJSON.encodedText(disk) == #"{"path":"/var/lib","totalBytes":1,"usedBytes":0}"#)
    }

    @Test("A whole-second time is written without a fraction")
    func wholeSecondTime() throws {
        let chunk = LogChunk(jobId: "job-41", seq: 0, stream: .stdout, at: leaseTime, text: "")
        #expect(try WireTestJSON.encodedText(chunk).contains(#""at":"2026-11-27T08:00:30Z""#))
    }

    @Test("A time with milliseconds is written with exactly three digits")
    func millisecondTime() throws {
        let chunk = LogChunk(jobId: "job-41", seq: 0, stream: .stdout, at: utc(1_795_766_430.12), text: "")
        #expect(try WireTestJSON.encodedText(chunk).contains(#""at":"2026-11-27T08:00:30.120Z""#))
    }

    @Test("The decoder reads times with offsets, fractions and lower-case letters")
    func decoderReadsRFC3339Variants() throws {
        let lease =
            #"{"leases": [{"jobId": "a", "leaseExpiresAt": "2026-11-27T17:00:30+09:00"},"#
            + #" {"jobId": "b", "leaseExpiresAt": "2026-11-27t08:00:30z"},"#
            + #" {"jobId": "c", "leaseExpiresAt": "2026-11-27T08:00:30.500Z"}]}"#
        let reply = try WireTestJSON.decode(ReportReply.self, from: lease)
        #expect(reply.leases.map(\.leaseExpiresAt) == [leaseTime, leaseTime, utc(1_795_766_430.5)])
    }

    @Test("The decoder refuses a time without a zone")
    func decoderRefusesLocalTime() {
        #expect(throws: DecodingError.self) {
            try WireTestJSON.decode(
                LogChunk.self, from: #"{"seq": 0, "stream": "vm", "at": "2026-11-27T08:00:30", "text": ""}"#)
        }
    }

    @Test("The decoder refuses a time given as a number")
    func decoderRefusesNumericTime() {
        #expect(throws: DecodingError.self) {
            try WireTestJSON.decode(
                LogChunk.self, from: #"{"seq": 0, "stream": "vm", "at": 1795766430, "text": ""}"#)
        }
    }
}

@Suite("JSONValue: raw JSON kept as it came")
struct JSONValueTests {
    @Test("Each kind of JSON value decodes to its own case")
    func decodesEachKind() throws {
        let value = try WireTestJSON.value(
            #"[null, true, false, 0, -7, 68719476736, 1.5, "x", [], {"a": {"b": [1]}}]"#)
        let expected: JSONValue = .array([
            .null, .bool(true), .bool(false), .int(0), .int(-7), .int(68_719_476_736), .double(1.5), .string("x"),
            .array([]), .object(["a": .object(["b": .array([.int(1)])])]),
        ])
        #expect(value == expected)
    }

    @Test("A JSON value encodes back to the same JSON")
    func encodesBack() throws {
        let text = #"{"n": null, "t": true, "i": 42, "d": 2.25, "s": "a/b", "a": [1, "two"], "o": {"k": false}}"#
        let value = try WireTestJSON.value(text)
        #expect(try WireTestJSON.value(try WireTestJSON.encodedText(value)) == value)
    }

    @Test("Member lookup reads objects and nothing else")
    func memberLookup() {
        let object: JSONValue = .object(["vmName": .string("my-app")])
        #expect(object["vmName"] == JSONValue.string("my-app"))
        #expect(object["missing"] == nil)
        #expect(JSONValue.string("vmName")["vmName"] == nil)
        let members: [String: JSONValue] = ["vmName": .string("my-app")]
        #expect(object.objectValue == members)
        #expect(JSONValue.array([]).objectValue == nil)
    }

    @Test("A typed value converts to a JSON value and back")
    func typedConversion() throws {
        let value = try JSONValue(encoding: Example.vmInfoValue)
        #expect(value == Example.vmInfoRaw)
        #expect(try value.decode(as: VMInfo.self) == Example.vmInfoValue)
    }

    @Test("Every JSON kind decodes to its own case, nested too (booleans stay booleans, integers integers)")
    func decodesEveryKind() throws {
        let text = #"{"t":true,"f":false,"i":1,"n":-2,"d":1.5,"s":"x","z":null,"a":[0,"1",{"b":true}],"o":{}}"#
        let value = try WireJSON.decoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(
            value
                == .object([
                    "t": .bool(true), "f": .bool(false), "i": .int(1), "n": .int(-2), "d": .double(1.5),
                    "s": .string("x"), "z": .null,
                    "a": .array([.int(0), .string("1"), .object(["b": .bool(true)])]), "o": .object([:]),
                ]))
    }

    @Test("Validation messages describe values briefly")
    func shortDescriptions() {
        #expect(JSONValue.string("two").shortDescription == "\"two\"")
        #expect(JSONValue.int(7).shortDescription == "7")
        #expect(JSONValue.object([:]).shortDescription == "an object")
        #expect(JSONValue.string(String(repeating: "x", count: 50)).shortDescription.count < 50)
        #expect(JSONValue.bool(true).kindName == "a boolean")
        #expect(JSONValue.double(1.5).kindName == "a number")
    }
}
