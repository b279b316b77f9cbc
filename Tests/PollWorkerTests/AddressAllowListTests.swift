import Foundation
import Testing

@testable import PollWorker

private let entries = ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]

/// A resolver answering `answers` for every host and recording which hosts it was asked for.
private final class FakeResolver: Sendable {
    let asked = Collected<String>()
    private let answers: Locked<[String]>

    init(_ answers: [String]) {
        self.answers = Locked(answers)
    }

    func answer(_ addresses: [String]) {
        answers.withLock { $0 = addresses }
    }

    func resolve(_ host: String) -> [String] {
        asked.append(host)
        return answers.withLock { $0 }
    }
}

private func allowList(_ resolver: FakeResolver, recheck: Duration = .seconds(3600)) throws -> AddressAllowList {
    let list = AddressAllowList(entries, recheck: recheck, resolve: { resolver.resolve($0) })
    return try #require(list)
}

@Suite("AddressAllowList")
struct AddressAllowListTests {
    @Test(
        "A host whose every address lies in the list is allowed",
        arguments: [["10.1.2.3"], ["192.0.2.7"], ["2001:db8::1"], ["10.255.255.255", "2001:db8:ffff::9", "192.0.2.7"]])
    func allInside(addresses: [String]) throws {
        #expect(try allowList(FakeResolver(addresses)).problem(host: "cp.example.com") == nil)
    }

    @Test(
        "One address outside the list is a problem naming that address and the key",
        arguments: [
            (["10.1.2.3", "192.0.2.8"], "192.0.2.8"), (["2001:db9::1", "10.0.0.1"], "2001:db9::1"),
            (["11.0.0.1"], "11.0.0.1"),
        ])
    func oneOutside(addresses: [String], outside: String) throws {
        let problem = try #require(try allowList(FakeResolver(addresses)).problem(host: "cp.example.com"))
        #expect(problem.contains("cp.example.com resolves to \(outside),"))
        #expect(problem.contains("security.allowedControlPlaneIps"))
        for inside in addresses where inside != outside {
            #expect(!problem.contains("\(inside),"), "only the address outside is named")
        }
    }

    @Test("A host that does not resolve is a problem saying so")
    func unresolvable() throws {
        let problem = try #require(try allowList(FakeResolver([])).problem(host: "cp.example.com"))
        #expect(problem.contains("cannot resolve cp.example.com"))
        #expect(problem.contains("security.allowedControlPlaneIps"))
    }

    @Test("Brackets around an IPv6 host are stripped before it is resolved")
    func brackets() throws {
        let resolver = FakeResolver(["2001:db8::1"])
        #expect(try allowList(resolver).problem(host: "[2001:db8::1]") == nil)
        #expect(resolver.asked.all == ["2001:db8::1"])
    }

    @Test("The verdict is kept for recheck: a second check within it does not resolve again")
    func cached() throws {
        let resolver = FakeResolver(["10.1.2.3"])
        let subject = try allowList(resolver)
        #expect(subject.problem(host: "cp.example.com") == nil)
        // The DNS answer changes, but the cached verdict still holds.
        resolver.answer(["203.0.113.5"])
        #expect(subject.problem(host: "cp.example.com") == nil)
        #expect(resolver.asked.all == ["cp.example.com"])
    }

    @Test("With recheck zero every check resolves again and sees a DNS change")
    func recheckZero() throws {
        let resolver = FakeResolver(["10.1.2.3"])
        let subject = try allowList(resolver, recheck: .zero)
        #expect(subject.problem(host: "cp.example.com") == nil)
        resolver.answer(["203.0.113.5"])
        let problem = try #require(subject.problem(host: "cp.example.com"))
        #expect(problem.contains("203.0.113.5"))
        #expect(resolver.asked.all == ["cp.example.com", "cp.example.com"])
    }

    @Test("The cached verdict is for one host: another host is resolved on its own")
    func cachePerHost() throws {
        let resolver = FakeResolver(["10.1.2.3"])
        let subject = try allowList(resolver)
        #expect(subject.problem(host: "cp.example.com") == nil)
        #expect(subject.problem(host: "other.example.com") == nil)
        #expect(resolver.asked.all == ["cp.example.com", "other.example.com"])
    }

    @Test("An empty list means no check")
    func emptyList() {
        #expect(AddressAllowList([]) == nil)
    }

    @Test("The real lookup of a numeric address returns that address")
    func realLookup() {
        #expect(AddressAllowList.lookup("127.0.0.1") == ["127.0.0.1"])
    }
}
