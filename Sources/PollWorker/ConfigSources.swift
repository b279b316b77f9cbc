import Foundation

/// Where configuration comes from, by precedence: command-line flag > environment > file > default.
public struct ConfigSources: Sendable {
    /// Values given on the command line.
    public struct Overrides: Sendable, Equatable {
        public var controlPlaneUrl: String?
        public var apiKey: String?
        public var logLevel: String?

        public init(controlPlaneUrl: String? = nil, apiKey: String? = nil, logLevel: String? = nil) {
            self.controlPlaneUrl = controlPlaneUrl
            self.apiKey = apiKey
            self.logLevel = logLevel
        }
    }

    public static let defaultPath = "/etc/limahost/agent.json"
    public static let pathVariable = "LIMA_AGENT_CONFIG"
    public static let apiKeyVariable = "LIMAHOST_API_KEY"
    public static let controlPlaneVariable = "LIMAHOST_CONTROL_PLANE_URL"
    public static let logLevelVariable = "LIMAHOST_LOG_LEVEL"

    public var configFlag: String?
    public var environment: [String: String]
    public var overrides: Overrides

    public init(configFlag: String?, environment: [String: String], overrides: Overrides) {
        self.configFlag = configFlag
        self.environment = environment
        self.overrides = overrides
    }

    /// `--config`, else `LIMA_AGENT_CONFIG`, else `/etc/limahost/agent.json`.
    public var configPath: String {
        if let configFlag, !configFlag.isEmpty { return configFlag }
        if let path = environment[Self.pathVariable], !path.isEmpty { return path }
        return Self.defaultPath
    }
}
