import Foundation

/// lima.yaml as far as the stand-in understands it: the top-level scalars `vmType`, `arch`, `cpus`,
/// `memory` and `disk`. Everything else is kept verbatim and ignored.
struct LimaConfig: Sendable {
    private(set) var text: String
    private var scalars: [String: String] = [:]

    static let keys: Set<String> = ["vmType", "arch", "cpus", "memory", "disk"]
    static let archTypes = ["x86_64", "aarch64", "armv7l", "ppc64le", "riscv64", "s390x"]
    static let vmTypes = ["qemu"]
    static var hostArch: String {
        #if arch(arm64)
            "aarch64"
        #else
            "x86_64"
        #endif
    }

    /// The built-in `template:default`, used when no `default.yaml` is in the template path.
    static let defaultTemplate = """
        # The limactl stand-in's built-in template:default. No image is ever downloaded.
        minimumLimaVersion: 2.0.0
        images:
        - location: "https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-amd64.img"
          arch: "x86_64"
        - location: "https://cloud-images.ubuntu.com/releases/noble/release/ubuntu-24.04-server-cloudimg-arm64.img"
          arch: "aarch64"
        mounts:
        - location: "~"
        - location: "/tmp/lima"
          writable: true

        """

    /// Checks the document is plausibly a YAML mapping: every non-indented line is a comment, a
    /// document marker, `key:`/`key: value`, or a `- item` of the preceding key's list.
    init(parsing text: String, source: String) throws {
        self.text = text
        guard !text.isEmpty else { throw CLIError.fatal("got empty instConfig") }
        func failure(_ line: Int, _ detail: String) -> CLIError {
            .fatal("failed to load YAML from \(source.bq): yaml: line \(line): \(detail)")
        }
        var sawKey = false
        var listAllowed = false
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || line == "---" || line == "..." { continue }
            if line.first == " " || line.first == "\t" {
                if sawKey { continue }
                throw failure(index + 1, "did not find expected <document start>")
            }
            if line == "-" || line.hasPrefix("- ") {
                if listAllowed { continue }
                throw failure(index + 1, "did not find expected key")
            }
            guard let (key, value) = Self.splitKey(line) else {
                throw failure(index + 1, "could not find expected ':'")
            }
            sawKey = true
            listAllowed = value.isEmpty
            if Self.keys.contains(key), let scalar = Self.scalar(value) { scalars[key] = scalar }
        }
        guard sawKey else {
            throw CLIError.fatal("failed to load YAML from \(source.bq): no top-level `key: value` mapping found")
        }
    }

    var vmType: String { scalars["vmType"] ?? "qemu" }
    var arch: String { scalars["arch"] ?? Self.hostArch }
    var cpus: Int { scalars["cpus"].flatMap { Int($0) } ?? 4 }
    var memory: String { scalars["memory"] ?? "4GiB" }
    var disk: String { scalars["disk"] ?? "100GiB" }

    /// Replaces the top-level `key:` line, or appends one (what the yq edit `.key = value` does here).
    mutating func set(_ key: String, _ rendered: String) {
        var lines = text.components(separatedBy: "\n")
        let line = "\(key): \(rendered)"
        if let index = lines.firstIndex(where: { Self.splitKey(Substring($0))?.0 == key }) {
            lines[index] = line
        } else if lines.last == "" {
            lines.insert(line, at: lines.count - 1)
        } else {
            lines.append(line)
        }
        text = lines.joined(separator: "\n")
        scalars[key] = Self.scalar(rendered)
    }

    /// The subset of `limayaml.Validate` that concerns the keys above.
    func validate() throws {
        if let raw = scalars["cpus"], Int(raw) == nil {
            throw CLIError.fatal("field `cpus` must be an integer, got \(raw.bq)")
        }
        if cpus == 0 { throw CLIError.fatal("field `cpus` must be set") }
        for (key, value) in [("memory", memory), ("disk", disk)] where ByteSize.parse(value) == nil {
            throw CLIError.fatal("field `\(key)` has an invalid value: invalid size: '\(value)'")
        }
        if !Self.archTypes.contains(arch) {
            throw CLIError.fatal(
                "field `arch` must be one of [\(Self.archTypes.joined(separator: " "))]; got \(arch.bq)")
        }
        if !Self.vmTypes.contains(vmType) { throw CLIError.fatal("vmType \(vmType.bq) is not a registered driver") }
    }

    /// The `config` object of `list --json`, trimmed to the keys the stand-in knows.
    var json: String {
        let q = { (s: String) in Quoting.json(s, html: false) }
        return "{\"vmType\":\(q(vmType)),\"os\":\"Linux\",\"arch\":\(q(arch)),\"cpus\":\(cpus),"
            + "\"memory\":\(q(memory)),\"disk\":\(q(disk))}"
    }

    /// `key: value` at the start of a line; nil when the line has no such shape.
    private static func splitKey(_ line: Substring) -> (String, String)? {
        let key: Substring
        let rest: Substring
        if let quote = line.first, quote == "\"" || quote == "'" {
            guard let end = line.dropFirst().firstIndex(of: quote) else { return nil }
            key = line[line.index(after: line.startIndex)..<end]
            rest = line[line.index(after: end)...]
        } else {
            let colon =
                line.firstRange(of: ": ")?.lowerBound ?? (line.hasSuffix(":") ? line.index(before: line.endIndex) : nil)
            guard let colon else { return nil }
            key = line[..<colon]
            rest = line[colon...]
            guard let first = key.first, !"{[&*!|>%@`#-?,]}'\"".contains(first) else { return nil }
        }
        guard rest.first == ":" else { return nil }
        return (String(key), rest.dropFirst().trimmingCharacters(in: .whitespaces))
    }

    /// A plain or quoted scalar without its trailing comment; nil for null and block values.
    private static func scalar(_ value: String) -> String? {
        if let quote = value.first, quote == "\"" || quote == "'" {
            let body = value.dropFirst()
            guard let end = body.firstIndex(of: quote) else { return nil }
            return String(body[..<end])
        }
        var plain = Substring(value)
        if let comment = plain.range(of: " #") { plain = plain[..<comment.lowerBound] }
        let trimmed = plain.trimmingCharacters(in: .whitespaces)
        let isNull = trimmed.isEmpty || trimmed == "~" || trimmed == "null"
        return isNull || trimmed.hasPrefix("#") || trimmed.hasPrefix("|") || trimmed.hasPrefix(">") ? nil : trimmed
    }
}
