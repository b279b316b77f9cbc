import Foundation
import Models
import Testing

@testable import PollWorker

private func range(_ text: String) throws -> IPRange {
    try #require(IPRange(parsing: text), "\(text) should parse")
}

@Suite("IPRange")
struct IPRangeTests {
    @Test("IPv4 addresses and CIDR ranges parse")
    func parsesIPv4() throws {
        let address = try range("192.0.2.7")
        #expect(address.bytes == [192, 0, 2, 7])
        #expect(address.prefixLength == 32)
        let cidr = try range("10.0.0.0/8")
        #expect(cidr.bytes == [10, 0, 0, 0])
        #expect(cidr.prefixLength == 8)
        #expect(try range("0.0.0.0/0").prefixLength == 0)
    }

    @Test("IPv6 addresses and CIDR ranges parse")
    func parsesIPv6() throws {
        let loopback = try range("::1")
        #expect(loopback.bytes == [UInt8](repeating: 0, count: 15) + [1])
        #expect(loopback.prefixLength == 128)
        let documentation = try range("2001:db8::/32")
        #expect(documentation.bytes.count == 16)
        #expect(Array(documentation.bytes.prefix(4)) == [0x20, 0x01, 0x0d, 0xb8])
        #expect(documentation.prefixLength == 32)
    }

    @Test(
        "Malformed addresses and prefixes are refused",
        arguments: [
            "10.0.0.0/33", "1.2.3", "::g", "", "10.0.0.0/", "10.0.0.0/-1", "::/129", "256.0.0.1", "example.com",
        ])
    func refusesMalformed(text: String) {
        #expect(IPRange(parsing: text) == nil)
    }

    @Test("An IPv4 address lies in the range that covers it and not in another")
    func containsIPv4() throws {
        #expect(try range("10.0.0.0/8").contains(range("10.1.2.3")))
        #expect(try !range("11.0.0.0/8").contains(range("10.1.2.3")))
        #expect(try range("0.0.0.0/0").contains(range("203.0.113.9")))
        #expect(try range("192.0.2.7").contains(range("192.0.2.7")))
        #expect(try !range("192.0.2.7").contains(range("192.0.2.8")))
    }

    @Test("Prefixes that are not whole bytes are honoured")
    func partialBytes() throws {
        #expect(try range("192.168.0.0/20").contains(range("192.168.15.255")))
        #expect(try !range("192.168.0.0/20").contains(range("192.168.16.0")))
    }

    @Test("A range contains a narrower range inside it, never a wider one")
    func rangesInRanges() throws {
        #expect(try range("10.0.0.0/8").contains(range("10.20.0.0/16")))
        #expect(try !range("10.0.0.0/16").contains(range("10.0.0.0/8")))
    }

    @Test("IPv6 containment works, and an IPv4 address is never in an IPv6 range")
    func containsIPv6() throws {
        #expect(try range("::1/128").contains(range("::1")))
        #expect(try range("2001:db8::/32").contains(range("2001:db8:1::5")))
        #expect(try !range("2001:db8::/32").contains(range("2001:db9::1")))
        #expect(try !range("::/0").contains(range("10.1.2.3")))
        #expect(try !range("0.0.0.0/0").contains(range("::1")))
    }
}
