import Foundation
import Synchronization

/// Keeps the first `limit` bytes of a stream and counts the rest, so memory stays
/// bounded whatever the child prints; it keeps reading so the child never blocks.
final class OutputCollector: Sendable {
    private struct State {
        var data = Data()
        var total = 0
    }

    private let limit: Int
    private let state = Mutex(State())

    init(limit: Int) { self.limit = limit }

    func append(_ bytes: UnsafeRawBufferPointer) {
        state.withLock { state in
            state.total += bytes.count
            let room = limit - state.data.count
            if room > 0 { state.data.append(contentsOf: bytes.prefix(room)) }
        }
    }

    var data: Data { state.withLock { $0.data } }
    var truncated: Bool { state.withLock { $0.total > limit } }
}
