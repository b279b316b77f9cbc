import Foundation

/// Instance-name rules: `identifiers.Validate`, `dirnames.ValidateInstName` and the socket-path limit.
enum InstanceName {
    static let pattern = "^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$"
    static let maxLength = 76
    static let unixPathMax = 108

    static func validate(_ name: String) throws {
        if let problem = identifierProblem(name) {
            throw CLIError.fatal("instance name \(name.bq) is not a valid identifier: \(problem)")
        }
        let lower = name.lowercased()
        if lower.hasSuffix(".yml") || lower.hasSuffix(".yaml") {
            throw CLIError.fatal("instance name \(name.bq) must not end with .yml or .yaml suffix")
        }
    }

    static func isValid(_ name: String) -> Bool { (try? validate(name)) != nil }

    /// `identifiers.Validate`: alphanumeric runs joined by single `.`, `_` or `-`; at most 76 bytes.
    static func identifierProblem(_ s: String) -> String? {
        if s.isEmpty { return "identifier must not be empty" }
        if s.utf8.count > maxLength {
            return "identifier \(s.bq) greater than maximum length (\(maxLength) characters)"
        }
        var afterSeparator = true
        for byte in s.utf8 {
            let alphanumeric = (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
            if alphanumeric {
                afterSeparator = false
            } else if !afterSeparator && (byte == 46 || byte == 95 || byte == 45) {
                afterSeparator = true
            } else {
                return "identifier \(s.bq) must match \(pattern)"
            }
        }
        return afterSeparator ? "identifier \(s.bq) must match \(pattern)" : nil
    }

    /// `instance.Create`: `<dir>/ssh.sock.1234567890123456` must be shorter than UNIX_PATH_MAX.
    static func checkSocketPath(_ name: String, dir: String) throws {
        let socket = dir + "/ssh.sock.1234567890123456"
        let length = socket.utf8.count
        if length >= unixPathMax {
            throw CLIError.fatal(
                "instance name \(name.bq) too long: \(socket.bq) must be less than UNIX_PATH_MAX=\(unixPathMax) characters, but is \(length)"
            )
        }
    }

    /// `limatmpl.InstNameFromYAMLPath`: base name, lower-cased, without `.yml`/`.yaml`.
    static func fromPath(_ path: String) throws -> String {
        var name = ((path as NSString).lastPathComponent).lowercased()
        for suffix in [".yml", ".yaml"] where name.hasSuffix(suffix) { name = String(name.dropLast(suffix.count)) }
        if let problem = identifierProblem(name) { throw CLIError.fatal("filename \(path.bq) is invalid: \(problem)") }
        return name
    }
}
