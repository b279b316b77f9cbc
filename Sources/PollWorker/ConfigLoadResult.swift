/// The outcome of loading the configuration: the effective values and every problem found.
public struct ConfigLoadResult: Sendable {
    public var config: AgentConfig
    /// The file that was read.
    public var path: String
    /// Where the API key came from, for `--check-config` (never the key itself).
    public var apiKeySource: String
    /// The file the key was read from (the key file, or the configuration file), if any.
    public var keyFile: String? = nil
    public var problems: [ConfigProblem]

    public var errors: [ConfigProblem] { problems.filter { $0.severity == .error } }
    public var hostProblems: [ConfigProblem] { problems.filter { $0.severity == .host } }
    public var warnings: [ConfigProblem] { problems.filter { $0.severity == .warning } }
}
