import Synchronization

/// A flush `JournalSyncer.begin()` started: any number of tasks wait for its outcome.
final class JournalFlush: Sendable {
    typealias Action = @Sendable (StoreError?) -> Void
    private enum State {
        case running([Action])
        /// Nil when the flush succeeded.
        case done(StoreError?)
    }
    private let state = Mutex(State.running([]))

    /// Runs `action` with the outcome (nil: success) once the flush ends: on the thread
    /// that ends it, or at once if it has. It must be quick (a `StartGate` opening).
    func whenDone(_ action: @escaping Action) {
        let finished = state.withLock { state -> State? in
            guard case .running(var actions) = state else { return state }
            actions.append(action)
            state = .running(actions)
            return nil
        }
        if case .done(let error) = finished { action(error) }
    }

    /// Returns once the flush is done; throws if it failed.
    func wait() async throws(StoreError) {
        let error = await withCheckedContinuation { (continuation: CheckedContinuation<StoreError?, Never>) in
            whenDone { continuation.resume(returning: $0) }
        }
        if let error { throw error }
    }

    /// Ends the flush: nil when it succeeded.
    func complete(_ error: StoreError?) {
        let actions = state.withLock { state -> [Action] in
            defer { state = .done(error) }
            guard case .running(let actions) = state else { return [] }
            return actions
        }
        for action in actions { action(error) }
    }
}
