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

    /// Keeps what fits; returns the bytes kept (empty once the cap is reached).
    @discardableResult
    func append(_ bytes: UnsafeRawBufferPointer) -> Data {
        state.withLock { state in
            state.total += bytes.count
            let room = limit - state.data.count
            guard room > 0 else { return Data() }
            let kept = Data(bytes.prefix(room))
            state.data.append(kept)
            return kept
        }
    }

    var data: Data { state.withLock { $0.data } }
    var truncated: Bool { state.withLock { $0.total > limit } }
}
