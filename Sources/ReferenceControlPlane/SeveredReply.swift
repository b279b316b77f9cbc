import FlyingFox
import FlyingSocks
import Foundation

/// A reply that never arrives in full, for the `reset` and `lostReply` faults: the agent's
/// HTTP client sees the connection fail (a transport error), never a usable response.
///
/// How. FlyingFox gives a handler no way to close its connection, and answers an error
/// thrown by a handler with a well-formed `500`. But `HTTPConnection.sendResponse` first
/// writes the status line and headers (`Content-Length` being the body sequence's declared
/// `count`), then writes the body chunk by chunk as the sequence yields them, and an error
/// thrown by the sequence leaves `sendResponse`: `HTTPServer.handleConnection` catches it
/// and closes the socket. So this reply declares `Content-Length` as a short prefix plus
/// `missingBytes`, yields the prefix, waits `closeDelay` so those bytes reach the client,
/// then throws `SocketError.disconnected`. Before that, `PeerSocket.resetOnClose` sets
/// `SO_LINGER {on, 0}` on the connection's socket, so the close is a TCP reset:
/// - libcurl (URLSession on Linux) fails with CURLE_RECV_ERROR (56, "Recv failure:
///   Connection reset by peer"), which URLSession reports as `NSURLErrorNetworkConnectionLost`;
///   Darwin's URLSession reports the same code.
/// - Should the socket not be found, the close is a FIN: libcurl fails with
///   CURLE_PARTIAL_FILE (18, "transfer closed with N bytes remaining to read"), which
///   URLSession on Linux reports as `NSURLErrorUnknown` (-1), Darwin as connection lost.
///
/// Why headers first, not a close without a single byte (a `webSocket` payload whose
/// `makeFrames` throws would give that, as FlyingFox calls it before writing anything):
/// libcurl silently resends a request whose reused keep-alive connection ends, by FIN or
/// by RST, before any byte of the response ("Connection died, retrying a fresh connect").
/// The agent would never see the fault, and a `lostReply` request would be processed twice.
/// Checked with curl 7.88 against a server that drops the second request of a connection:
/// zero bytes (FIN or RST) → resent and answered; headers then RST → curl: (56); headers
/// then FIN → curl: (18).
struct SeveredReply: AsyncBufferedSequence {
    typealias Element = UInt8

    /// Bytes the reply declares but never sends.
    static let missingBytes = 65_536
    /// How long the sent part has to reach the client before the connection closes.
    static let closeDelay = Duration.milliseconds(20)

    /// What is sent of the body before the connection closes.
    let prefix: [UInt8]

    /// A `200` application/json reply to `request`, cut after `prefix` by a reset of its
    /// connection (or a FIN, see above).
    static func response(to request: HTTPRequest, prefix: String = #"{"jobs": ["#) -> HTTPResponse {
        _ = PeerSocket.resetOnClose(peer: request.remoteAddress)
        let reply = SeveredReply(prefix: Array(prefix.utf8))
        return HTTPResponse(
            statusCode: .ok, headers: [HTTPHeader.contentType: "application/json"],
            body: HTTPBodySequence(from: reply, count: reply.prefix.count + missingBytes))
    }

    func makeAsyncIterator() -> Iterator { Iterator(pending: prefix) }

    /// Yields the prefix, then throws instead of ending.
    struct Iterator: AsyncBufferedIteratorProtocol {
        var pending: [UInt8]

        mutating func next() async throws -> UInt8? {
            guard !pending.isEmpty else { try await sever() }
            return pending.removeFirst()
        }

        mutating func nextBuffer(suggested count: Int) async throws -> [UInt8]? {
            guard !pending.isEmpty else { try await sever() }
            let chunk = Array(pending.prefix(Swift.max(count, 1)))
            pending.removeFirst(chunk.count)
            return chunk
        }

        /// Lets the sent bytes go out, then fails the body so FlyingFox closes the socket.
        private func sever() async throws -> Never {
            try? await Task.sleep(for: SeveredReply.closeDelay)
            throw SocketError.disconnected
        }
    }
}
