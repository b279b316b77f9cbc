/// Replaces secrets in text with `Secret.marker`: the one place that does it, for
/// log lines, `--check-config` output and usage errors alike.
public struct Redactor: Sendable {
    /// Log lines skip secrets shorter than this: blanking every "a" would garble them.
    public static let logMinimumLength = 4

    private var secrets: [String] = []

    public init() {}

    public mutating func add(_ secret: String, minimumLength: Int = 1) {
        guard secret.count >= max(1, minimumLength), !secrets.contains(secret) else { return }
        secrets.append(secret)
    }

    public func apply(_ text: String) -> String {
        var result = text
        for secret in secrets where result.contains(secret) {
            result = result.replacingOccurrences(of: secret, with: Secret.marker)
        }
        return result
    }
}
