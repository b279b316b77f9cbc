import Foundation
import Models
import Testing

@testable import PollWorker

@Suite("LiveOutput and UTF8Boundary")
struct LiveOutputTests {
    @Test("A cut never falls inside a UTF-8 sequence")
    func boundaries() {
        let bytes = Array("aé€😀".utf8)  // 1 + 2 + 3 + 4 bytes
        #expect(UTF8Boundary.atOrBefore(2, in: bytes) == 1)
        #expect(UTF8Boundary.atOrBefore(3, in: bytes) == 3)
        #expect(UTF8Boundary.atOrBefore(5, in: bytes) == 3)
        #expect(UTF8Boundary.atOrBefore(9, in: bytes) == 6)
        #expect(UTF8Boundary.atOrBefore(10, in: bytes) == 10)
        #expect(UTF8Boundary.completeEnd(bytes) == 10)
        #expect(UTF8Boundary.completeEnd(Array(bytes.prefix(8))) == 6)
        #expect(UTF8Boundary.completeEnd(Array(bytes.prefix(2))) == 1)
        #expect(UTF8Boundary.completeEnd([UInt8]()) == 0)
    }

    @Test("Chunks keep a character split across two reads whole, and seq counts per stream")
    func chunks() throws {
        let store = try makeStore()
        // chunkBytes 4 and no time-based flush: every chunk comes from the size rule or finish().
        let live = LiveOutput(jobId: "j1", store: store, bell: nil, chunkBytes: 4, interval: .seconds(3600))
        let euro = Array("€".utf8)
        live.append(.stdout, Data([UInt8(ascii: "a"), UInt8(ascii: "b")] + euro.prefix(2)))
        live.append(.stdout, Data(euro.suffix(1) + Array("cd".utf8)))
        live.append(.stderr, Data("oops".utf8))
        live.finish()
        let chunks = try store.pendingLogs(limit: 100).map(\.chunk)
        let stdout = chunks.filter { $0.stream == .stdout }
        let stderr = chunks.filter { $0.stream == .stderr }
        #expect(stdout.map(\.text).joined() == "ab€cd")
        #expect(stdout.allSatisfy { !$0.text.contains("\u{FFFD}") }, "\(stdout.map(\.text))")
        #expect(stdout.map(\.seq) == Array(0..<stdout.count))
        #expect(stderr.map(\.text) == ["oops"])
        #expect(stderr.map(\.seq) == [0])
        #expect(chunks.allSatisfy { $0.jobId == "j1" })
    }
}
