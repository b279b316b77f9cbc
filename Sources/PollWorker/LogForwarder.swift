import Foundation
import Models
import Synchronization

/// Forwards the agent's own warnings and errors to the control plane as `agent`
/// log chunks (§5.3), through the outbox. `seq` starts from the wall clock in
/// milliseconds and only increases, so it keeps increasing across restarts.
/// A failed write is dropped silently: logging about it would loop.
public final class LogForwarder: Sendable {
    private let store: StateStore
    private let now: @Sendable () -> Date
    private let lastSeq = Mutex(0)

    public init(store: StateStore, now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.now = now
    }

    public func forward(_ text: String, jobId: String?) {
        let date = now()
        let seq = lastSeq.withLock { last -> Int in
            last = max(last + 1, Int(date.timeIntervalSince1970 * 1000))
            return last
        }
        try? store.enqueueLogs([LogChunk(jobId: jobId, seq: seq, stream: .agent, at: date, text: text)])
    }
}
