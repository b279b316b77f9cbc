import Foundation
import Logging
import Models

/// A swift-log handler writing one line per event: `<6>message key=value` under
/// journald, `2026-11-27T08:00:30.120Z info message key=value` elsewhere and in the
/// log file. The sink redacts secrets from every line.
public struct AgentLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let sink: LogSink
    private let now: @Sendable () -> Date

    public init(label: String, level: Logger.Level, sink: LogSink, now: @escaping @Sendable () -> Date = Date.init) {
        self.label = label
        self.logLevel = level
        self.sink = sink
        self.now = now
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        if let error = event.error { merged["error"] = .string(String(describing: error)) }
        let text = AgentLogHandler.render(message: event.message.description, metadata: merged)
        let stamped = "\(RFC3339.format(now())) \(event.level.rawValue) \(text)\n"
        let stderrLine = sink.journald ? "<\(AgentLogHandler.priority(event.level))>\(text)\n" : stamped
        sink.write(stderrLine: stderrLine, fileLine: stamped)
        if event.level >= .warning {
            let jobId: String? = if case .string(let id)? = merged["job"] { id } else { nil }
            sink.forward("\(event.level.rawValue) \(text)", jobId: jobId)
        }
    }

    /// `message key=value key2="quoted value"`, keys sorted; newlines escaped so one event is one line.
    static func render(message: String, metadata: Logger.Metadata) -> String {
        var line = escapeNewlines(message)
        for key in metadata.keys.sorted() {
            guard let value = metadata[key] else { continue }
            line += " \(key)=\(quoteIfNeeded(escapeNewlines(value.description)))"
        }
        return line
    }

    private static func escapeNewlines(_ text: String) -> String {
        text.contains(where: \.isNewline)
            ? text.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n") : text
    }

    private static func quoteIfNeeded(_ text: String) -> String {
        if !text.isEmpty && !text.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" }) { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// syslog priorities, as journald reads them from `<N>` prefixes.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }
}
