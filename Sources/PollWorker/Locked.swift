import Synchronization

/// A value behind a mutex that tasks can share (a `Mutex` itself cannot be copied
/// into a struct or captured by a concurrent closure).
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    public init(_ value: Value) { mutex = Mutex(value) }

    public func withLock<Result: Sendable>(_ body: (inout Value) -> Result) -> Result {
        mutex.withLock { value in body(&value) }
    }
}
