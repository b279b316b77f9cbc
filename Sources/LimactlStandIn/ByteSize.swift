import Foundation

/// docker/go-units sizes as Lima uses them, and pflag's float32 rendering for `--memory`/`--disk`.
enum ByteSize {
    /// `units.RAMInBytes`: `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`, all units binary.
    static func parse(_ text: String) -> Int64? {
        var rest = Substring(text)
        let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
        guard number.first?.isNumber == true, !number.hasSuffix("."), let value = Double(number) else { return nil }
        rest = rest.dropFirst(number.count)
        if rest.first == " " { rest = rest.dropFirst() }
        var multiplier = 1.0
        if let unit = rest.first?.lowercased(), let power = ["k", "m", "g", "t", "p"].firstIndex(of: unit) {
            multiplier = pow(1024, Double(power + 1))
            rest = rest.dropFirst()
        }
        if rest.first == "i" || rest.first == "I" { rest = rest.dropFirst() }
        if rest.first == "b" || rest.first == "B" { rest = rest.dropFirst() }
        let bytes = value * multiplier
        guard rest.isEmpty, bytes < 9.2e18 else { return nil }
        return Int64(bytes)
    }

    /// `units.BytesSize`: `%.4g` plus a binary unit, e.g. `4GiB`.
    static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
        var size = Double(bytes)
        var index = 0
        while size >= 1024 && index < units.count - 1 {
            size /= 1024
            index += 1
        }
        return String(format: "%.4g", size) + units[index]
    }

    /// `"<pflag float32 String()>GiB"`: `2` → `2GiB`, `1.5` → `1.5GiB`.
    static func gib(_ value: Float) -> String {
        let text = value == value.rounded() && abs(value) < 1e6 ? String(Int(value)) : "\(value)"
        return text + "GiB"
    }
}
