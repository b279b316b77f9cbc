import Foundation
import Testing

@testable import Models

/// A fixture did not have the shape a test needs (a valid job where a rejection was expected, or the reverse).
struct FixtureError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) { self.description = description }
}

/// A `Date` from seconds since 1970. The numbers in the tests were computed independently
/// (Python's `calendar.timegm`), never through `RFC3339`, so they can catch its mistakes.
func utc(_ secondsSince1970: TimeInterval) -> Date {
    Date(timeIntervalSince1970: secondsSince1970)
}

/// The lease time most fixtures use: `2026-11-27T08:00:30Z`.
let leaseTime = utc(1_795_766_430)

/// Reading and writing JSON exactly as the wire does, through `WireJSON`.
enum WireTestJSON {
    /// JSON text parsed into a `JSONValue`.
    static func value(_ text: String) throws -> JSONValue {
        try WireJSON.decoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// JSON text decoded as `type` with the wire decoder.
    static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try WireJSON.decoder().decode(type, from: Data(text.utf8))
    }

    /// `value` encoded with the wire encoder, read back as a `JSONValue` for a semantic comparison.
    static func encode(_ value: some Encodable) throws -> JSONValue {
        let data = try WireJSON.encoder().encode(value)
        return try WireJSON.decoder().decode(JSONValue.self, from: data)
    }

    /// The exact text the wire encoder writes for `value`.
    static func encodedText(_ value: some Encodable) throws -> String {
        String(decoding: try WireJSON.encoder().encode(value), as: UTF8.self)
    }
}

/// The same JSON with every integral floating-point number written as an integer, so that
/// `4` and `4.0` compare equal (JSON does not tell them apart; object key order never matters).
func normalized(_ value: JSONValue) -> JSONValue {
    switch value {
    case .double(let number) where number.rounded() == number && abs(number) < 9_007_199_254_740_992:
        return .int(Int64(number))
    case .array(let items):
        return .array(items.map(normalized))
    case .object(let members):
        return .object(members.mapValues(normalized))
    default:
        return value
    }
}

/// Expects two JSON values to mean the same thing.
func expectSameJSON(_ actual: JSONValue, _ expected: JSONValue, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(normalized(actual) == normalized(expected), sourceLocation: sourceLocation)
}

/// Golden direction (a): the golden JSON decodes to exactly the hand-built value.
func expectDecodes<T: Decodable & Equatable>(
    _ golden: String, to expected: T, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let decoded = try WireTestJSON.decode(T.self, from: golden)
    #expect(decoded == expected, sourceLocation: sourceLocation)
}

/// Golden direction (b): the hand-built value encodes to JSON that means the same as the golden JSON.
func expectEncodes(
    _ value: some Encodable, to golden: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    expectSameJSON(try WireTestJSON.encode(value), try WireTestJSON.value(golden), sourceLocation: sourceLocation)
}

/// The outcome of decoding one delivered job given as JSON text.
func decodeJob(_ json: String) throws -> JobDecoding {
    JobDecoder.decode(try WireTestJSON.value(json))
}

/// The job `json` describes; throws when the decoder rejects it.
func validJob(_ json: String) throws -> Job {
    switch try decodeJob(json) {
    case .valid(let job):
        return job
    case .invalid(let rejection):
        throw FixtureError("expected a valid job, got a rejection: \(rejection.error.message)")
    }
}

/// The rejection for `json`; throws when the decoder accepts it.
func rejectionOf(_ json: String) throws -> JobRejection {
    switch try decodeJob(json) {
    case .valid(let job):
        throw FixtureError("expected a rejection, got a valid \(job.type.rawValue) job \(job.id)")
    case .invalid(let rejection):
        return rejection
    }
}
