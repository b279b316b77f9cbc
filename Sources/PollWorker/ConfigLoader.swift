import Foundation
import Models

/// Builds the effective `AgentConfig` from the file, the environment and the
/// command line (flag > environment > file > default), and reports every problem
/// at once, each with its key path and the rule it breaks.
public struct ConfigLoader: Sendable {
    public typealias FileReader = @Sendable (String) throws -> Data

    private let hostname: String
    private let readFile: FileReader

    public init(hostname: String, readFile: @escaping FileReader) {
        self.hostname = hostname
        self.readFile = readFile
    }

    public func load(_ sources: ConfigSources) -> ConfigLoadResult {
        let path = sources.configPath
        let defaultID = Self.agentID(fromHostname: hostname)
        var config = AgentConfig(agentId: defaultID, agentName: hostname.isEmpty ? defaultID : hostname)
        var problems: [ConfigProblem] = []
        var keySource = "none"
        var keyFileUsed: String?

        var fileKey: String?
        if let root = readRoot(path, &problems) {
            let reader = ConfigReader(object: root, prefix: "")
            fileKey = apply(reader, to: &config)
            problems += reader.problems
        }

        // Environment, then flags, over the file.
        let env = sources.environment
        if let url = env[ConfigSources.controlPlaneVariable], !url.isEmpty { config.controlPlaneUrl = url }
        if let url = sources.overrides.controlPlaneUrl { config.controlPlaneUrl = url }
        for (origin, text) in [
            ("environment \(ConfigSources.logLevelVariable)", env[ConfigSources.logLevelVariable]),
            ("--log-level", sources.overrides.logLevel),
        ] {
            guard let text, !text.isEmpty else { continue }
            if let level = LogLevelName(parsing: text) {
                config.logLevel = level
            } else {
                problems.append(ConfigProblem(.error, "logLevel", "\(origin): \(Self.levelRule), got \"\(text)\""))
            }
        }

        // The key: --api-key > LIMAHOST_API_KEY > controlPlaneApiKeyFile / controlPlaneApiKey.
        if let flagKey = sources.overrides.apiKey {
            config.controlPlaneApiKey = Secret(flagKey)
            keySource = "--api-key (visible in ps: prefer \(ConfigSources.apiKeyVariable) or controlPlaneApiKeyFile)"
        } else if let envKey = env[ConfigSources.apiKeyVariable], !envKey.isEmpty {
            config.controlPlaneApiKey = Secret(envKey)
            keySource = "environment \(ConfigSources.apiKeyVariable)"
        } else if let keyFile = config.controlPlaneApiKeyFile {
            keySource = "controlPlaneApiKeyFile \(keyFile)"
            keyFileUsed = keyFile
            config.controlPlaneApiKey = readKeyFile(keyFile, &problems)
        } else if let fileKey, !fileKey.isEmpty {
            config.controlPlaneApiKey = Secret(fileKey)
            keySource = "controlPlaneApiKey in \(path)"
            keyFileUsed = path
        }

        problems += validate(config)
        return ConfigLoadResult(
            config: config, path: path, apiKeySource: keySource, keyFile: keyFileUsed, problems: problems)
    }

    static let levelRule = "must be one of trace, debug, info, notice, warning, error, critical"

    /// A hostname made into a valid agent id (characters outside the id rule become `-`).
    static func agentID(fromHostname hostname: String) -> String {
        let mapped = String(
            hostname.map { character -> Character in
                character.isASCII && (character.isLetter || character.isNumber || "._:-".contains(character))
                    ? character : "-"
            }.prefix(WireRules.maxJobIDLength))
        return mapped.isEmpty ? "limahost-agent" : mapped
    }

    private func readRoot(_ path: String, _ problems: inout [ConfigProblem]) -> [String: JSONValue]? {
        let data: Data
        do {
            data = try readFile(path)
        } catch {
            problems.append(ConfigProblem(.error, path, "cannot read the configuration file: \(Self.reason(error))"))
            return nil
        }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            problems.append(ConfigProblem(.error, path, "not valid JSON: \(Self.reason(error))"))
            return nil
        }
        guard case .object(let root) = value else {
            problems.append(ConfigProblem(.error, path, "must hold a JSON object, got \(value.kindName)"))
            return nil
        }
        return root
    }

    /// Reads every known key into `config`; returns the file's `controlPlaneApiKey`.
    private func apply(_ reader: ConfigReader, to config: inout AgentConfig) -> String? {
        if let url = reader.string("controlPlaneUrl") { config.controlPlaneUrl = url }
        let fileKey = reader.string("controlPlaneApiKey", secret: true)
        if let keyFile = reader.string("controlPlaneApiKeyFile"), !keyFile.isEmpty {
            config.controlPlaneApiKeyFile = keyFile
            if let fileKey, !fileKey.isEmpty {
                reader.fail("controlPlaneApiKeyFile", "set controlPlaneApiKey or controlPlaneApiKeyFile, not both")
            }
        }
        // Empty means the default: the hostname.
        if let id = reader.string("agentId"), !id.isEmpty { config.agentId = id }
        if let name = reader.string("agentName"), !name.isEmpty { config.agentName = name }
        let ms = " (milliseconds)"
        if let v = reader.integer("heartbeatInterval", in: 1000...3_600_000, unit: ms) { config.heartbeatInterval = v }
        if let v = reader.integer("metricsInterval", in: 1000...3_600_000, unit: ms) { config.metricsInterval = v }
        if let v = reader.integer("pollWait", in: 1000...300_000, unit: ms) { config.pollWait = v }
        if let v = reader.integer("pollInterval", in: 0...300_000, unit: ms) { config.pollInterval = v }
        if let v = reader.string("vmDataDir") { config.vmDataDir = v }
        if let v = reader.integer("maxConcurrentOperations", in: 1...64) { config.maxConcurrentOperations = v }
        if let text = reader.string("logLevel") {
            if let level = LogLevelName(parsing: text) {
                config.logLevel = level
            } else {
                reader.fail("logLevel", "\(Self.levelRule), got \"\(text)\"")
            }
        }
        if let v = reader.string("logFile") { config.logFile = v.isEmpty ? nil : v }
        if let v = reader.string("limactlPath") { config.limactlPath = v }
        if let v = reader.string("limaUser") { config.limaUser = v.isEmpty ? nil : v }
        if let v = reader.string("templatesDir") { config.templatesDir = v }
        if let v = reader.string("stateDir") { config.stateDir = v }
        if let v = reader.string("backupDir") { config.backupDir = v }
        if let v = reader.integer("maxOutputBytes", in: 1024...67_108_864, unit: " (bytes)") {
            config.maxOutputBytes = v
        }
        if let v = reader.integer("drainTimeout", in: 1000...86_400_000, unit: ms) { config.drainTimeout = v }
        if let v = reader.integer("drainRetryTimeout", in: 0...86_400_000, unit: ms) { config.drainRetryTimeout = v }
        if let v = reader.integer("outboxMaxBytes", in: 4096...17_179_869_184, unit: " (bytes)") {
            config.outboxMaxBytes = v
        }
        if let security = reader.object("security") {
            applySecurity(security, to: &config.security)
            reader.absorb(security)
        }
        if let limits = reader.object("resourceLimits") {
            applyLimits(limits, to: &config.resourceLimits)
            reader.absorb(limits)
        }
        reader.absorbUnknownKeys()
        return fileKey
    }

    private func applySecurity(_ reader: ConfigReader, to security: inout AgentConfig.Security) {
        if let v = reader.stringArray("allowedControlPlaneIps") { security.allowedControlPlaneIps = v }
        if let v = reader.integer("maxCommandTimeout", in: 1000...86_400_000, unit: " (milliseconds)") {
            security.maxCommandTimeout = v
        }
        if let v = reader.bool("requireCommandApproval") { security.requireCommandApproval = v }
        if let v = reader.integer("approvalTimeout", in: 1000...86_400_000, unit: " (milliseconds)") {
            security.approvalTimeout = v
        }
        if let v = reader.stringArray("allowedVmTemplates") { security.allowedVmTemplates = v }
        if let v = reader.bool("allowInsecureHttp") { security.allowInsecureHttp = v }
        if let v = reader.stringArray("allowedCommands") { security.allowedCommands = v }
        if let v = reader.stringMap("jobSigningKeys") { security.jobSigningKeys = v }
        reader.absorbUnknownKeys()
    }

    private func applyLimits(_ reader: ConfigReader, to limits: inout ResourceLimits) {
        if let v = reader.integer("maxVmsPerAgent", in: 1...10_000) { limits.maxVmsPerAgent = v }
        if let v = reader.integer("maxCpuPerVm", in: 1...1024) { limits.maxCpuPerVm = v }
        if let v = reader.integer("maxMemoryPerVm", in: 1...65_536, unit: " (GiB)") { limits.maxMemoryPerVm = v }
        if let v = reader.integer("maxDiskPerVm", in: 1...1_048_576, unit: " (GiB)") { limits.maxDiskPerVm = v }
        if let v = reader.integer("maxTotalCpu", in: 1...65_536) { limits.maxTotalCpu = v }
        if let v = reader.integer("maxTotalMemory", in: 1...1_048_576, unit: " (GiB)") { limits.maxTotalMemory = v }
        if let v = reader.integer("maxTotalDisk", in: 1...104_857_600, unit: " (GiB)") { limits.maxTotalDisk = v }
        reader.absorbUnknownKeys()
    }

    private func readKeyFile(_ path: String, _ problems: inout [ConfigProblem]) -> Secret? {
        do {
            let text = String(decoding: try readFile(path), as: UTF8.self)
            let key =
                text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first
                .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
            if key.isEmpty {
                problems.append(ConfigProblem(.host, "controlPlaneApiKeyFile", "\(path) is empty"))
                return nil
            }
            return Secret(key)
        } catch {
            problems.append(
                ConfigProblem(.host, "controlPlaneApiKeyFile", "cannot read \(path): \(Self.reason(error))"))
            return nil
        }
    }

    static func reason(_ error: any Error) -> String {
        if let failure = error as? FileBytes.Failure { return failure.description }
        if let cocoa = error as? CocoaError, let underlying = cocoa.userInfo[NSUnderlyingErrorKey] as? NSError {
            return underlying.localizedDescription
        }
        if let decoding = error as? DecodingError, case .dataCorrupted(let context) = decoding {
            let detail = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return detail ?? context.debugDescription
        }
        return (error as NSError).localizedDescription
    }
}
