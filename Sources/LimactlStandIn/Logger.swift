import Glibc

/// logrus as limactl configures it: one line per entry on stderr, text or JSON.
struct Logger: Sendable {
    enum Level: Int, Sendable, Comparable {
        case trace, debug, info, warning, error, fatal

        static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }

        /// `logrus.ParseLevel`.
        static func parse(_ text: String) throws -> Level {
            switch text.lowercased() {
            case "trace": return .trace
            case "debug": return .debug
            case "info": return .info
            case "warn", "warning": return .warning
            case "error": return .error
            case "fatal", "panic": return .fatal
            default: throw CLIError.fatal("not a valid logrus Level: \(Quoting.goQuote(text))")
            }
        }
    }

    var json = false
    var minimum = Level.info

    /// Writes one entry; `fields` are extra logrus fields (sorted by key, as logrus does).
    func log(_ level: Level, _ message: String, _ fields: [(String, String)] = []) {
        guard level >= minimum else { return }
        let time = Logger.timestamp()
        var line: String
        if json {
            let pairs = ([("level", "\(level)"), ("msg", message), ("time", time)] + fields).sorted { $0.0 < $1.0 }
            line = "{" + pairs.map { Quoting.json($0.0) + ":" + Quoting.json($0.1) }.joined(separator: ",") + "}"
        } else {
            line = "time=\(Quoting.logfmt(time)) level=\(level) msg=\(Quoting.logfmt(message))"
            for (key, value) in fields.sorted(by: { $0.0 < $1.0 }) { line += " \(key)=\(Quoting.logfmt(value))" }
        }
        Sys.write(2, line + "\n")
    }

    func info(_ message: String) { log(.info, message) }
    func warn(_ message: String) { log(.warning, message) }
    func error(_ message: String) { log(.error, message) }

    /// RFC 3339 in local time (`Z` for UTC), like Go's `time.RFC3339`.
    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S", &parts)
        let base = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let offset = parts.tm_gmtoff
        guard offset != 0 else { return base + "Z" }
        let minutes = abs(offset) / 60
        let pad = { (n: Int) in n < 10 ? "0\(n)" : "\(n)" }
        return base + (offset < 0 ? "-" : "+") + pad(minutes / 60) + ":" + pad(minutes % 60)
    }
}
