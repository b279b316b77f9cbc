import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where log lines go: stderr, and `logFile` when set. Shared by every handler
/// copy, so writes are serialised here, and every line passes the redactor first.
public final class LogSink: Sendable {
    private struct State {
        var file: FileHandle?
        var redactor = Redactor()
        /// Receives warnings and errors (redacted) for the control plane (`agent` log chunks).
        var forward: (@Sendable (_ text: String, _ jobId: String?) -> Void)?
    }

    private let state: Mutex<State>
    private let writeStderr: @Sendable (String) -> Void
    /// Under systemd (JOURNAL_STREAM set) lines carry `<N>` priority prefixes journald reads.
    public let journald: Bool
    private let filePath: String?

    public init(
        logFile: String?, journald: Bool,
        writeStderr: @escaping @Sendable (String) -> Void = { line in FileHandle.standardError.write(Data(line.utf8)) }
    ) {
        self.journald = journald
        self.writeStderr = writeStderr
        self.filePath = logFile
        state = Mutex(State(file: logFile.flatMap(LogSink.openForAppend)))
    }

    /// Values that must never appear in a line (the API key); they become `[REDACTED]`.
    public func redact(_ secret: String) {
        state.withLock { $0.redactor.add(secret, minimumLength: Redactor.logMinimumLength) }
    }

    public func redacted(_ text: String) -> String {
        state.withLock { $0.redactor }.apply(text)
    }

    /// Sends every later warning and error to `forward` too (once the outbox exists).
    public func forward(to forward: @escaping @Sendable (_ text: String, _ jobId: String?) -> Void) {
        state.withLock { $0.forward = forward }
    }

    /// Hands a warning or an error, redacted, to the forwarder, if one is set.
    func forward(_ text: String, jobId: String?) {
        let forward = state.withLock { $0.forward }
        forward?(redacted(text), jobId)
    }

    /// Writes one event: `stderrLine` to stderr, `fileLine` to the log file.
    func write(stderrLine: String, fileLine: String) {
        let cleanStderr = redacted(stderrLine)
        let cleanFile = redacted(fileLine)
        state.withLock { state in
            writeStderr(cleanStderr)
            state.file?.write(Data(cleanFile.utf8))
        }
    }

    /// Reopens the log file (after logrotate moved it away).
    public func reopen() {
        guard let filePath else { return }
        state.withLock { state in
            try? state.file?.close()
            state.file = LogSink.openForAppend(filePath)
        }
    }

    private static func openForAppend(_ path: String) -> FileHandle? {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return nil }
        return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
    }
}
