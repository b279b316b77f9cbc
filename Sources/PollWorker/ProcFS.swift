import Foundation

/// Reads the small text files of a procfs tree. `root` is `/proc` on a real host; tests
/// point it at a directory of fixture files laid out the same way (`stat`, `meminfo`,
/// `<pid>/stat`, …).
public struct ProcFS: Sendable {
    /// The directory standing for `/proc`.
    public let root: String

    /// The largest file read; `/proc/stat` on a many-core host is well under this.
    static let readLimit = 4 << 20

    public init(root: String = "/proc") {
        self.root = root
    }

    /// The absolute path of `relative` (e.g. `net/dev`) under `root`.
    public func path(_ relative: String) -> String {
        root.hasSuffix("/") ? root + relative : root + "/" + relative
    }

    /// The text of `relative` under `root`, or nil when it cannot be read (a process that has
    /// exited, a file this kernel does not have). procfs files report size 0, so this reads
    /// until end of file rather than trusting the size; bytes that are not UTF-8 (a `comm`
    /// can hold any) are replaced, never rejected.
    public func read(_ relative: String) -> String? {
        guard let data = try? FileBytes.read(path(relative), limit: Self.readLimit) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
