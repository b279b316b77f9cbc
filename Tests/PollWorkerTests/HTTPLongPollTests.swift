import Foundation
import Logging
import Models
import Testing

@testable import PollWorker

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// One HTTP/1.1 exchange on 127.0.0.1: it reads a request, holds it for `hold` (the
/// server side of a long poll that finds no job), then answers `204`.
private final class HoldingServer: Sendable {
    let port: Int
    private let listener: Int32

    init(hold: Duration) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [fd] in
            let peer = accept(fd, nil, nil)
            guard peer >= 0 else { return }
            defer { close(peer) }
            var request = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !Self.complete(request) {
                let count = read(peer, &buffer, buffer.count)
                guard count > 0 else { return }
                request += buffer[0..<count]
            }
            Thread.sleep(forTimeInterval: Double(hold.components.seconds))
            let reply = Array("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n".utf8)
            _ = write(peer, reply, reply.count)
        }
    }

    /// The headers have ended and `Content-Length` bytes of body follow them.
    private static func complete(_ bytes: [UInt8]) -> Bool {
        let separator = Array("\r\n\r\n".utf8)
        guard bytes.count >= separator.count,
            let end = (0...(bytes.count - separator.count)).first(where: {
                Array(bytes[$0..<($0 + separator.count)]) == separator
            })
        else { return false }
        let header = String(decoding: bytes[..<end], as: UTF8.self).lowercased()
        let length =
            header.split(separator: "\r\n")
            .first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        return bytes.count - end - separator.count >= length
    }

    deinit { close(listener) }
}

@Suite("HTTPControlPlane long poll")
struct HTTPLongPollTests {
    @Test("A claim's timeout is `wait` plus the margin, not the session's shorter default")
    func claimOutlivesSessionTimeout() async throws {
        // The server holds the claim 3 s; the session's default timeout is 1 s. A claim
        // with `wait` 3000 must still get the server's empty answer, not a client timeout.
        let server = try HoldingServer(hold: .seconds(3))
        let url = try #require(URL(string: "http://127.0.0.1:\(server.port)"))
        let plane = HTTPControlPlane(
            baseURL: url, agentId: "host-1", apiKey: Secret("k"),
            session: HTTPControlPlane.makeSession(requestTimeout: 1), logger: testLogger)
        let started = ContinuousClock.now
        let reply = try await plane.claim(ClaimRequest(capacity: 1, wait: 3000, held: [], draining: false))
        #expect(reply.jobs.isEmpty)
        #expect(ContinuousClock.now - started >= .seconds(3))
    }
}
