import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `security.allowedControlPlaneIps`: every address the control plane's host
/// resolves to must lie in one of the listed addresses or CIDR ranges, or the
/// agent sends nothing. Checked before the first request and again at least every
/// `recheck`, so a DNS change is noticed. (libcurl resolves again when it
/// connects; the window between the two lookups is as small as the cache allows.)
public final class AddressAllowList: Sendable {
    let ranges: [IPRange]
    let entries: [String]
    let resolve: @Sendable (String) -> [String]
    let recheck: Duration
    private let verdict = Locked<(at: ContinuousClock.Instant, host: String, problem: String?)?>(nil)

    /// Nil when the list is empty (any address is allowed).
    public init?(
        _ entries: [String], recheck: Duration = .seconds(60),
        resolve: @escaping @Sendable (String) -> [String] = AddressAllowList.lookup
    ) {
        let ranges = entries.compactMap(IPRange.init(parsing:))
        guard !ranges.isEmpty else { return nil }
        self.ranges = ranges
        self.entries = entries
        self.resolve = resolve
        self.recheck = recheck
    }

    /// Why the agent must not talk to `host`, or nil when every address is allowed.
    public func problem(host rawHost: String) -> String? {
        let host = rawHost.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        let now = ContinuousClock.now
        if let cached = verdict.withLock({ $0 }), cached.host == host, cached.at.duration(to: now) < recheck {
            return cached.problem
        }
        let problem = evaluate(host)
        verdict.withLock { $0 = (now, host, problem) }
        return problem
    }

    func evaluate(_ host: String) -> String? {
        let addresses = resolve(host)
        guard !addresses.isEmpty else {
            return "cannot resolve \(host) to check it against security.allowedControlPlaneIps"
        }
        let outside = addresses.filter { address in
            guard let parsed = IPRange(parsing: address) else { return true }
            return !ranges.contains { $0.contains(parsed) }
        }
        guard outside.isEmpty else {
            return "\(host) resolves to \(outside.joined(separator: ", ")), not in security.allowedControlPlaneIps "
                + "(\(entries.joined(separator: ", "))); sending nothing to it"
        }
        return nil
    }

    /// Every address `host` resolves to (getaddrinfo), as numeric strings.
    public static func lookup(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [String] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            if let address = entry.pointee.ai_addr,
                getnameinfo(address, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST)
                    == 0
            {
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if !addresses.contains(text) { addresses.append(text) }
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }
}
