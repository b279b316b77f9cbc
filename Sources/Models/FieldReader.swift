import Foundation

/// Reads typed fields from a JSON object, throwing `JobValidationError`s that
/// name the field's full path ("config.cpus: must be an integer, got \"two\"").
struct FieldReader {
    let object: [String: JSONValue]
    let prefix: String

    func path(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    private func present(_ key: String) -> JSONValue? {
        guard let value = object[key] else { return nil }
        if case .null = value { return nil }
        return value
    }

    private func required(_ key: String) throws(JobValidationError) -> JSONValue {
        guard let value = present(key) else { throw JobValidationError(field: path(key), reason: "is required") }
        return value
    }

    private func mismatch(_ key: String, _ expected: String, _ value: JSONValue) -> JobValidationError {
        JobValidationError(field: path(key), reason: "must be \(expected), got \(value.shortDescription)")
    }

    func string(_ key: String) throws(JobValidationError) -> String {
        let value = try required(key)
        guard case .string(let text) = value else { throw mismatch(key, "a string", value) }
        return text
    }

    func optionalString(_ key: String) throws(JobValidationError) -> String? {
        guard let value = present(key) else { return nil }
        guard case .string(let text) = value else { throw mismatch(key, "a string", value) }
        return text
    }

    func vmName() throws(JobValidationError) -> String {
        let name = try string("vmName")
        if let problem = WireRules.instanceNameProblem(name) {
            // A policy rule: a name outside Lima's rule could reach a path or a flag.
            throw JobValidationError(
                field: path("vmName"), reason: "not a valid Lima instance name: \(problem)", code: .policyDenied)
        }
        return name
    }

    private func integerValue(_ key: String, _ value: JSONValue, minimum: Int) throws(JobValidationError) -> Int {
        let number: Int
        switch value {
        case .int(let n) where n <= Int64(Int32.max) * 1_000_000: number = Int(n)
        case .double(let d) where d.rounded() == d && abs(d) < 1e15: number = Int(d)
        default: throw mismatch(key, "an integer", value)
        }
        guard number >= minimum else {
            throw JobValidationError(field: path(key), reason: "must be at least \(minimum), got \(number)")
        }
        return number
    }

    func integer(_ key: String, minimum: Int) throws(JobValidationError) -> Int {
        try integerValue(key, try required(key), minimum: minimum)
    }

    func optionalInteger(_ key: String, minimum: Int) throws(JobValidationError) -> Int? {
        guard let value = present(key) else { return nil }
        return try integerValue(key, value, minimum: minimum)
    }

    func optionalPositiveNumber(_ key: String) throws(JobValidationError) -> Double? {
        guard let value = present(key) else { return nil }
        let number: Double
        switch value {
        case .int(let n): number = Double(n)
        case .double(let d) where d.isFinite: number = d
        default: throw mismatch(key, "a number", value)
        }
        guard number > 0 else {
            throw JobValidationError(field: path(key), reason: "must be greater than 0, got \(value.shortDescription)")
        }
        return number
    }

    func optionalBool(_ key: String) throws(JobValidationError) -> Bool? {
        guard let value = present(key) else { return nil }
        guard case .bool(let flag) = value else { throw mismatch(key, "a boolean", value) }
        return flag
    }

    func date(_ key: String) throws(JobValidationError) -> Date {
        let text = try string(key)
        guard let date = RFC3339.parse(text) else {
            throw JobValidationError(field: path(key), reason: "must be an RFC 3339 time, got \"\(text)\"")
        }
        return date
    }

    func optionalObject(_ key: String) throws(JobValidationError) -> FieldReader? {
        guard let value = present(key) else { return nil }
        guard case .object(let members) = value else { throw mismatch(key, "an object", value) }
        return FieldReader(object: members, prefix: path(key))
    }

    func optionalStringArray(_ key: String) throws(JobValidationError) -> [String]? {
        guard let value = present(key) else { return nil }
        guard case .array(let items) = value else { throw mismatch(key, "an array of strings", value) }
        var strings: [String] = []
        for (index, item) in items.enumerated() {
            guard case .string(let text) = item else {
                throw JobValidationError(
                    field: "\(path(key))[\(index)]", reason: "must be a string, got \(item.shortDescription)")
            }
            strings.append(text)
        }
        return strings
    }

    func optionalStringMap(_ key: String) throws(JobValidationError) -> [String: String]? {
        guard let value = present(key) else { return nil }
        guard case .object(let members) = value else { throw mismatch(key, "an object of strings", value) }
        var map: [String: String] = [:]
        for (name, item) in members {
            guard case .string(let text) = item else {
                throw JobValidationError(
                    field: "\(path(key)).\(name)", reason: "must be a string, got \(item.shortDescription)")
            }
            map[name] = text
        }
        return map
    }
}
