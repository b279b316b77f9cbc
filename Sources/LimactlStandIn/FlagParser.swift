/// A small pflag work-alike: `--name=v`, `--name v`, `-n v`, `-nv`, bool flags with an optional
/// `=value`, and `--`. Errors use pflag's wording.
struct FlagParser {
    struct Flag: Sendable {
        let name: String
        let short: Character?
        let takesValue: Bool

        static func bool(_ name: String, _ short: Character? = nil) -> Flag {
            Flag(name: name, short: short, takesValue: false)
        }
        static func value(_ name: String, _ short: Character? = nil) -> Flag {
            Flag(name: name, short: short, takesValue: true)
        }
    }

    struct Result: Sendable {
        var values: [String: [String]] = [:]
        var positionals: [String] = []

        func has(_ name: String) -> Bool { values[name] != nil }
        func string(_ name: String) -> String? { values[name]?.last }
        func bool(_ name: String) -> Bool { values[name]?.last == "true" }
    }

    /// limactl's persistent flags, accepted by every command (plus cobra's `--help`).
    static let global: [Flag] = [
        .bool("tty"), .value("log-level"), .value("log-format"), .bool("debug"), .bool("yes", "y"), .bool("help", "h"),
    ]

    let flags: [Flag]
    /// `cmd.Flags().SetInterspersed(false)`: everything from the first positional on is positional.
    var stopAtFirstPositional = false

    func parse(_ args: [String]) throws -> Result {
        var result = Result()
        var index = 0
        while index < args.count {
            let arg = args[index]
            index += 1
            if arg == "--" {
                result.positionals += args[index...]
                break
            }
            if arg.hasPrefix("--") {
                let body = arg.dropFirst(2)
                let name = String(body.prefix { $0 != "=" })
                let inline = body.firstIndex(of: "=").map { String(body[body.index(after: $0)...]) }
                guard let flag = flags.first(where: { $0.name == name }) else {
                    throw CLIError.fatal("unknown flag: --\(name)")
                }
                try record(flag, inline, shown: "--\(name)", args, &index, &result)
            } else if arg.hasPrefix("-") && arg.count > 1 {
                var rest = arg.dropFirst()
                while let letter = rest.first {
                    rest = rest.dropFirst()
                    guard let flag = flags.first(where: { $0.short == letter }) else {
                        throw CLIError.fatal("unknown shorthand flag: '\(letter)' in \(arg)")
                    }
                    if flag.takesValue || rest.hasPrefix("=") {
                        let inline = rest.isEmpty ? nil : String(rest.hasPrefix("=") ? rest.dropFirst() : rest)
                        try record(flag, inline, shown: "'\(letter)' in \(arg)", args, &index, &result)
                        break
                    }
                    try record(flag, nil, shown: "'\(letter)' in \(arg)", args, &index, &result)
                }
            } else {
                result.positionals.append(arg)
                if stopAtFirstPositional {
                    result.positionals += args[index...]
                    break
                }
            }
        }
        return result
    }

    private func record(
        _ flag: Flag, _ inline: String?, shown: String, _ args: [String], _ index: inout Int, _ result: inout Result
    ) throws {
        var value = inline
        if flag.takesValue && value == nil {
            guard index < args.count else { throw CLIError.fatal("flag needs an argument: \(shown)") }
            value = args[index]
            index += 1
        }
        var text = value ?? "true"
        if !flag.takesValue {
            switch text {
            case "1", "t", "T", "true", "TRUE", "True": text = "true"
            case "0", "f", "F", "false", "FALSE", "False": text = "false"
            default:
                let quoted = Quoting.goQuote(text)
                throw CLIError.fatal(
                    "invalid argument \(quoted) for \"--\(flag.name)\" flag: strconv.ParseBool: parsing \(quoted): invalid syntax"
                )
            }
        }
        result.values[flag.name, default: []].append(text)
    }
}
