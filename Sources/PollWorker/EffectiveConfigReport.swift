import Foundation
import Models

/// What `--check-config` prints: the effective configuration (key redacted) and every problem.
public enum EffectiveConfigReport {
    public static func render(_ result: ConfigLoadResult, hostProblems: [ConfigProblem]) -> String {
        let config = result.config
        var security: [String: JSONValue] = [
            "allowedControlPlaneIps": .array(config.security.allowedControlPlaneIps.map(JSONValue.string)),
            "maxCommandTimeout": .int(Int64(config.security.maxCommandTimeout)),
            "requireCommandApproval": .bool(config.security.requireCommandApproval),
            "approvalTimeout": .int(Int64(config.security.approvalTimeout)),
            "allowedVmTemplates": .array(config.security.allowedVmTemplates.map(JSONValue.string)),
            "allowInsecureHttp": .bool(config.security.allowInsecureHttp),
            "allowedCommands": .array(config.security.allowedCommands.map(JSONValue.string)),
        ]
        security["jobSigningKeys"] = .object(config.security.jobSigningKeys.mapValues(JSONValue.string))
        let limits = (try? JSONValue(encoding: config.resourceLimits)) ?? .null
        let object: [String: JSONValue] = [
            "controlPlaneUrl": config.controlPlaneUrl.map(JSONValue.string) ?? .null,
            "controlPlaneApiKey": config.controlPlaneApiKey == nil ? .null : .string(Secret.marker),
            "controlPlaneApiKeyFile": config.controlPlaneApiKeyFile.map(JSONValue.string) ?? .null,
            "agentId": .string(config.agentId),
            "agentName": .string(config.agentName),
            "heartbeatInterval": .int(Int64(config.heartbeatInterval)),
            "metricsInterval": .int(Int64(config.metricsInterval)),
            "pollWait": .int(Int64(config.pollWait)),
            "pollInterval": .int(Int64(config.pollInterval)),
            "vmDataDir": .string(config.vmDataDir),
            "maxConcurrentOperations": .int(Int64(config.maxConcurrentOperations)),
            "logLevel": .string(config.logLevel.rawValue),
            "logFile": config.logFile.map(JSONValue.string) ?? .null,
            "limactlPath": .string(config.limactlPath),
            "limaUser": config.limaUser.map(JSONValue.string) ?? .null,
            "templatesDir": .string(config.templatesDir),
            "stateDir": .string(config.stateDir),
            "backupDir": .string(config.backupDir),
            "maxOutputBytes": .int(Int64(config.maxOutputBytes)),
            "drainTimeout": .int(Int64(config.drainTimeout)),
            "drainRetryTimeout": .int(Int64(config.drainRetryTimeout)),
            "outboxMaxBytes": .int(Int64(config.outboxMaxBytes)),
            "security": .object(security),
            "resourceLimits": limits,
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let json = (try? encoder.encode(JSONValue.object(object))).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        var lines = [
            "# configuration file: \(result.path)",
            "# API key from: \(result.apiKeySource)",
            json,
        ]
        let all = result.problems + hostProblems
        let errors = all.filter { $0.severity == .error }
        for problem in all {
            let label =
                switch problem.severity {
                case .error: "error"
                case .warning: "warning"
                case .host: "host"
                }
            lines.append("\(label): \(problem)")
        }
        if errors.isEmpty {
            let host = all.filter { $0.severity == .host }.count
            lines.append(
                host == 0
                    ? "configuration OK"
                    : "configuration OK; \(host) host check(s) above must be fixed before the agent will start")
        } else {
            lines.append("\(errors.count) configuration error(s)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
