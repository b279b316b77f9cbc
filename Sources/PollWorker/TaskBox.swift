import Dispatch
import Foundation
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Holds a URLSessionTask so a cancellation handler can cancel it. The cancel is
/// sent from another queue: calling it synchronously from the handler can
/// deadlock URLSession on Linux (swift-corelibs-foundation #5412).
final class TaskBox: Sendable {
    private struct State {
        var task: URLSessionTask?
        var cancelled = false
    }

    private let state = Mutex(State())

    func set(_ task: URLSessionTask) {
        let cancelNow = state.withLock { state -> Bool in
            state.task = task
            return state.cancelled
        }
        if cancelNow { Self.cancelLater(task) }
    }

    func cancel() {
        let task = state.withLock { state -> URLSessionTask? in
            state.cancelled = true
            return state.task
        }
        if let task { Self.cancelLater(task) }
    }

    private static func cancelLater(_ task: URLSessionTask) {
        let sendable = UncheckedTask(task: task)
        cancelQueue.async { sendable.task.cancel() }
    }

    /// Serial, not a global queue: the first worker of Dispatch's global pool starts a
    /// monitor that wakes the process every second for good (GlobalExecutor).
    private static let cancelQueue = DispatchQueue(label: "limahost-agent.http-cancel")
}

/// URLSessionTask is thread-safe but not marked Sendable in corelibs-foundation.
private struct UncheckedTask: @unchecked Sendable {
    let task: URLSessionTask
}
