import Models

/// Reads one JSON object of the configuration file, collecting a `ConfigProblem`
/// for every ill-typed value and an unknown-key warning (with the nearest known
/// key) for every key it was never asked about.
final class ConfigReader {
    private let object: [String: JSONValue]
    private let prefix: String
    private var known: [String] = []
    private(set) var problems: [ConfigProblem] = []

    init(object: [String: JSONValue], prefix: String) {
        self.object = object
        self.prefix = prefix
    }

    func path(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    func fail(_ key: String, _ message: String) {
        problems.append(ConfigProblem(.error, path(key), message))
    }

    private func value(_ key: String) -> JSONValue? {
        known.append(key)
        guard let value = object[key] else { return nil }
        if case .null = value { return nil }
        return value
    }

    func has(_ key: String) -> Bool { object[key] != nil }

    func string(_ key: String, secret: Bool = false) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else {
            fail(key, "must be a string, got \(secret ? value.kindName : value.shortDescription)")
            return nil
        }
        return text
    }

    func bool(_ key: String) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else {
            fail(key, "must be true or false, got \(value.shortDescription)")
            return nil
        }
        return flag
    }

    /// An integer within `range`; the message says "a positive integer" when the range starts at 1.
    func integer(_ key: String, in range: ClosedRange<Int>, unit: String = "") -> Int? {
        guard let value = value(key) else { return nil }
        let what = range.lowerBound == 1 ? "a positive integer" : "an integer"
        let number: Int
        switch value {
        case .int(let n) where n >= Int64(Int32.min) && n <= Int64(Int32.max) * 1000: number = Int(n)
        case .double(let d) where d.rounded() == d && abs(d) < 1e12: number = Int(d)
        default:
            fail(key, "must be \(what)\(unit), got \(value.shortDescription)")
            return nil
        }
        guard range.contains(number) else {
            if number < 1, range.lowerBound == 1 {
                fail(key, "must be \(what)\(unit), got \(number)")
            } else {
                fail(key, "must be from \(range.lowerBound) to \(range.upperBound)\(unit), got \(number)")
            }
            return nil
        }
        return number
    }

    func stringArray(_ key: String) -> [String]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value else {
            fail(key, "must be an array of strings, got \(value.shortDescription)")
            return nil
        }
        var strings: [String] = []
        for (index, item) in items.enumerated() {
            guard case .string(let text) = item else {
                problems.append(
                    ConfigProblem(.error, "\(path(key))[\(index)]", "must be a string, got \(item.shortDescription)"))
                return nil
            }
            strings.append(text)
        }
        return strings
    }

    func stringMap(_ key: String) -> [String: String]? {
        guard let value = value(key) else { return nil }
        guard case .object(let members) = value else {
            fail(key, "must be an object of strings, got \(value.shortDescription)")
            return nil
        }
        var map: [String: String] = [:]
        for (name, item) in members {
            guard case .string(let text) = item else {
                problems.append(
                    ConfigProblem(.error, "\(path(key)).\(name)", "must be a string, got \(item.shortDescription)"))
                return nil
            }
            map[name] = text
        }
        return map
    }

    func object(_ key: String) -> ConfigReader? {
        guard let value = value(key) else { return nil }
        guard case .object(let members) = value else {
            fail(key, "must be an object, got \(value.shortDescription)")
            return nil
        }
        return ConfigReader(object: members, prefix: path(key))
    }

    /// Takes over a nested reader's problems, so they are reported in one list.
    func absorb(_ child: ConfigReader) {
        problems += child.problems
    }

    /// Adds the unknown-key warnings to this reader's problems; call after every key was read.
    func absorbUnknownKeys() {
        problems += unknownKeyWarnings()
    }

    /// Warnings for keys nobody read, each naming the nearest known key.
    func unknownKeyWarnings() -> [ConfigProblem] {
        object.keys.sorted().filter { !known.contains($0) }.map { key in
            let hint = EditDistance.nearest(to: key, among: known).map { " (did you mean \"\($0)\"?)" } ?? ""
            return ConfigProblem(.warning, path(key), "unknown key, ignored\(hint)")
        }
    }
}
