/// Keeps an `--api-key` value given on the command line out of usage errors.
public enum CommandLineRedaction {
    public static func redact(_ message: String, arguments: [String]) -> String {
        var secrets: [String] = []
        for (index, argument) in arguments.enumerated() {
            if argument == "--api-key", index + 1 < arguments.count {
                secrets.append(arguments[index + 1])
            } else if argument.hasPrefix("--api-key=") {
                secrets.append(String(argument.dropFirst("--api-key=".count)))
            }
        }
        var result = message
        for secret in secrets where !secret.isEmpty {
            result = result.replacingOccurrences(of: secret, with: Secret.marker)
        }
        return result
    }
}
