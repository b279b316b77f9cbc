import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An IPv4 or IPv6 address or CIDR range (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`).
public struct IPRange: Sendable, Equatable {
    public let bytes: [UInt8]
    public let prefixLength: Int

    public init?(parsing text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = parts.first.map(String.init), let parsed = IPRange.parseAddress(address) else {
            return nil
        }
        let maxPrefix = parsed.count * 8
        var prefix = maxPrefix
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maxPrefix).contains(value) else { return nil }
            prefix = value
        }
        bytes = parsed
        prefixLength = prefix
    }

    /// Whether `other` (an address or a range) lies entirely inside this range.
    public func contains(_ other: IPRange) -> Bool {
        guard other.bytes.count == bytes.count, other.prefixLength >= prefixLength else { return false }
        var remaining = prefixLength
        for index in 0..<bytes.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
            if bytes[index] & mask != other.bytes[index] & mask { return false }
            remaining -= bits
        }
        return true
    }

    static func parseAddress(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { Array($0) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { Array($0) }
        }
        return nil
    }
}
