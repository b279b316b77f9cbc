/// Keeps an `--api-key` value given on the command line out of usage errors.
public enum CommandLineRedaction {
    public static func redact(_ message: String, arguments: [String]) -> String {
        var redactor = Redactor()
        for (index, argument) in arguments.enumerated() {
            if argument == "--api-key", index + 1 < arguments.count {
                redactor.add(arguments[index + 1])
            } else if argument.hasPrefix("--api-key=") {
                redactor.add(String(argument.dropFirst("--api-key=".count)))
            }
        }
        return redactor.apply(message)
    }
}
