import CSpawn

#if canImport(Glibc)
    import Glibc
#endif

/// An eventfd a blocking thread polls next to its other descriptors, so async code
/// (a task-cancellation handler) can wake it. Closed only when the last holder lets
/// go, so a late `ring()` never writes to a descriptor number already reused.
final class WakeSignal: Sendable {
    let descriptor: Int32

    /// nil when no eventfd can be made (the process is out of descriptors).
    init?() {
        let descriptor = limahost_eventfd()
        guard descriptor >= 0 else { return nil }
        self.descriptor = descriptor
    }

    deinit { close(descriptor) }

    func ring() {
        var one: UInt64 = 1
        _ = write(descriptor, &one, MemoryLayout<UInt64>.size)
    }

    /// Consumes the rings so far; true when there was one.
    func consume() -> Bool {
        var count: UInt64 = 0
        return read(descriptor, &count, MemoryLayout<UInt64>.size) == MemoryLayout<UInt64>.size && count > 0
    }
}
