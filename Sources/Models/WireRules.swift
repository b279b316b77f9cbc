/// The identifier rules the wire and Lima impose, checked without regular
/// expressions (Foundation's are slow to build and not needed here).
public enum WireRules {
    public static let maxJobIDLength = 128
    public static let maxInstanceNameLength = 76
    public static let instanceNamePattern = "^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$"

    /// Why `id` is not a valid job id (1 to 128 of `[A-Za-z0-9._:-]`), or nil if it is.
    public static func jobIDProblem(_ id: String) -> String? {
        if id.isEmpty { return "must not be empty" }
        if id.utf8.count > maxJobIDLength {
            return "must be at most \(maxJobIDLength) characters, got \(id.utf8.count)"
        }
        for byte in id.utf8 where !(isAlphanumeric(byte) || byte == 46 || byte == 95 || byte == 58 || byte == 45) {
            return "must contain only A-Z a-z 0-9 . _ : -, got \(quoted(id))"
        }
        return nil
    }

    /// Why `name` is not a valid Lima instance name (limactl-reference.md §2), or nil.
    /// The socket-path length limit depends on LIMA_HOME and is checked by the agent.
    public static func instanceNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "must not be empty" }
        if name.utf8.count > maxInstanceNameLength {
            return "must be at most \(maxInstanceNameLength) characters, got \(name.utf8.count)"
        }
        var previousWasSeparator = true
        for byte in name.utf8 {
            if isAlphanumeric(byte) {
                previousWasSeparator = false
            } else if byte == 46 || byte == 95 || byte == 45, !previousWasSeparator {
                previousWasSeparator = true
            } else {
                return "must match \(instanceNamePattern), got \(quoted(name))"
            }
        }
        if previousWasSeparator {
            return "must match \(instanceNamePattern), got \(quoted(name))"
        }
        let lower = name.lowercased()
        if lower.hasSuffix(".yml") || lower.hasSuffix(".yaml") {
            return "must not end with .yml or .yaml, got \(quoted(name))"
        }
        return nil
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
    }

    private static func quoted(_ text: String) -> String {
        let clipped = text.count > 80 ? String(text.prefix(80)) + "…" : text
        return "\"\(clipped)\""
    }
}
