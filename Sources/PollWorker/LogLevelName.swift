import Logging

/// The `logLevel` setting: swift-log's levels by name, plus `warn` as an alias.
public enum LogLevelName: String, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical

    public init?(parsing text: String) {
        if text.lowercased() == "warn" {
            self = .warning
        } else if let level = LogLevelName(rawValue: text.lowercased()) {
            self = level
        } else {
            return nil
        }
    }

    public var level: Logger.Level {
        switch self {
        case .trace: .trace
        case .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical: .critical
        }
    }
}
