import Foundation

/// The `cpus`, `memory` and `disk` a Lima template sets at its top level, read
/// without a YAML library: Lima templates write them as plain `key: value` lines
/// (`memory: "4GiB"`). A value this cannot read counts as unset.
public struct TemplateResources: Sendable, Equatable {
    public var cpus: Int?
    /// GiB.
    public var memory: Double?
    /// GiB.
    public var disk: Double?

    public init(cpus: Int? = nil, memory: Double? = nil, disk: Double? = nil) {
        self.cpus = cpus
        self.memory = memory
        self.disk = disk
    }

    public static func parse(_ data: Data) -> TemplateResources {
        var result = TemplateResources()
        for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
            // Top level only: nested keys are indented.
            guard let first = line.first, first != " ", first != "\t", first != "#" else { continue }
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            var value = parts[1].split(separator: "#", maxSplits: 1).first.map(String.init) ?? ""
            value = value.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            switch key {
            case "cpus": result.cpus = Int(value)
            case "memory": result.memory = gibibytes(value)
            case "disk": result.disk = gibibytes(value)
            default: break
            }
        }
        return result
    }

    /// `4GiB`, `512MiB`, `1TiB`, `4G` or a bare number of bytes, in GiB.
    static func gibibytes(_ text: String) -> Double? {
        let units: [(String, Double)] = [
            ("TiB", 1024), ("GiB", 1), ("MiB", 1.0 / 1024), ("KiB", 1.0 / 1_048_576), ("T", 1024), ("G", 1),
            ("M", 1.0 / 1024), ("K", 1.0 / 1_048_576),
        ]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            return Double(text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)).map { $0 * factor }
        }
        return Double(text).map { $0 / 1_073_741_824 }
    }
}
