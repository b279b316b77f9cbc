/// How a command ends when it does not succeed: a logrus `fatal` line and exit 1, or a child's
/// exit code passed through silently (like a bare `*exec.ExitError` in limactl).
enum CLIError: Error, CustomStringConvertible {
    case fatal(String)
    case exit(Int32)

    var description: String {
        switch self {
        case .fatal(let message): message
        case .exit(let code): "exit status \(code)"
        }
    }

    /// A cobra positional-argument error wrapped like `WrapArgsError` in cmd/limactl/main.go.
    static func args(_ command: String, _ text: String, use: String, short: String) -> CLIError {
        .fatal("`limactl \(command)` \(text).\nSee `limactl \(command) --help`.\n\nUsage:  limactl \(use)\n\n\(short)")
    }
}
