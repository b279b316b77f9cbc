import Foundation

/// Any JSON value. Jobs arrive as raw JSON so that one malformed job can be
/// reported `rejected` instead of failing the whole claim reply, and result
/// `data` varies by job type.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let members) = self { return members }
        return nil
    }

    /// The JSON type's name as a person would say it, for validation messages.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// A short rendering of the value for messages ("got \"eight\"").
    public var shortDescription: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return String(value)
        case .int(let value): return String(value)
        case .double(let value): return String(value)
        case .string(let value):
            let clipped = value.count > 40 ? String(value.prefix(40)) + "…" : value
            return "\"\(clipped)\""
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

extension JSONValue: Codable {
    /// Strings are tried first, then objects, integers, booleans, arrays and the rest:
    /// every failed `try?` is a thrown `DecodingError` with its context built. Strings
    /// and objects are what job and result JSON is mostly made of, then integers: a string
    /// throws none, an object one, an integer two (objects first made a claimed job's
    /// strings throw twice each and its integers four times, on the pickup path; scalars
    /// first made every object throw four times).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let object = try? decoder.container(keyedBy: AnyCodingKey.self) {
            var values: [String: JSONValue] = [:]
            values.reserveCapacity(object.allKeys.count)
            for key in object.allKeys { values[key.stringValue] = try object.decode(JSONValue.self, forKey: key) }
            self = .object(values)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if var array = try? decoder.unkeyedContainer() {
            var values: [JSONValue] = []
            if let count = array.count { values.reserveCapacity(count) }
            while !array.isAtEnd { values.append(try array.decode(JSONValue.self)) }
            self = .array(values)
        } else {
            self = .double(try container.decode(Double.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}

extension JSONValue {
    /// Converts any `Encodable` value into a `JSONValue` through the wire encoder.
    public init(encoding value: some Encodable) throws {
        let data = try WireJSON.encoder().encode(value)
        self = try WireJSON.decoder().decode(JSONValue.self, from: data)
    }

    /// Decodes a typed value from this JSON value through the wire decoder.
    public func decode<T: Decodable>(as type: T.Type) throws -> T {
        let data = try WireJSON.encoder().encode(self)
        return try WireJSON.decoder().decode(type, from: data)
    }
}
