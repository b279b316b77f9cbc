import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What registration says about the host.
public enum HostFacts {
    public static func architecture() -> String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }
    /// `limactl --version` → "2.2.0", or nil when limactl cannot run.
    public static func limaVersion(_ limactl: Limactl) async -> String? {
        let outcome = await limactl.run(["--version"], timeout: .seconds(10))
        guard outcome.exitCode == 0 else { return nil }
        let text = outcome.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let range = text.range(of: "version ") else { return text.isEmpty ? nil : text }
        return String(text[range.upperBound...])
    }
}
