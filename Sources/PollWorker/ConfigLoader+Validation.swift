import Foundation
import Models

extension ConfigLoader {
    /// Rules that concern values rather than types: URLs, names, paths, consistency.
    func validate(_ config: AgentConfig) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        func fail(_ key: String, _ message: String) { problems.append(ConfigProblem(.error, key, message)) }

        if let url = config.controlPlaneUrl {
            if let problem = Self.controlPlaneURLProblem(url, allowInsecure: config.security.allowInsecureHttp) {
                fail("controlPlaneUrl", problem)
            }
        } else {
            fail("controlPlaneUrl", "is required (the control plane's base URL, e.g. https://api.limahost.com)")
        }
        if let key = config.controlPlaneApiKey {
            if key.exposedValue.contains(where: { $0.isWhitespace || $0.isNewline || !$0.isASCII }) {
                fail("controlPlaneApiKey", "must be printable ASCII without spaces (the value is not shown)")
            }
        } else if config.controlPlaneApiKeyFile == nil {
            fail(
                "controlPlaneApiKey",
                "no API key: set \(ConfigSources.apiKeyVariable), controlPlaneApiKeyFile or controlPlaneApiKey")
        }
        if let problem = WireRules.jobIDProblem(config.agentId) {
            fail("agentId", problem)
        }
        if config.agentName.trimmingCharacters(in: .whitespaces).isEmpty {
            fail("agentName", "must not be empty")
        }
        if config.vmDataDir.isEmpty { fail("vmDataDir", "must not be empty") }
        if config.limactlPath.isEmpty { fail("limactlPath", "must not be empty") }
        for (key, path) in [
            ("templatesDir", config.templatesDir), ("stateDir", config.stateDir), ("backupDir", config.backupDir),
            ("logFile", config.logFile ?? "/"), ("controlPlaneApiKeyFile", config.controlPlaneApiKeyFile ?? "/"),
        ] where !path.hasPrefix("/") {
            fail(key, "must be an absolute path, got \"\(path)\"")
        }
        if let user = config.limaUser, user.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace }) {
            fail("limaUser", "must be a user name, got \"\(user)\"")
        }
        validateSecurity(config.security, &problems)
        validateLimits(config.resourceLimits, &problems)
        return problems
    }

    private func validateSecurity(_ security: AgentConfig.Security, _ problems: inout [ConfigProblem]) {
        func fail(_ key: String, _ message: String) {
            problems.append(ConfigProblem(.error, "security.\(key)", message))
        }
        for (index, entry) in security.allowedControlPlaneIps.enumerated() where IPRange(parsing: entry) == nil {
            fail("allowedControlPlaneIps[\(index)]", "must be an IP address or CIDR range, got \"\(entry)\"")
        }
        for (index, name) in security.allowedVmTemplates.enumerated() {
            if name.isEmpty || name.hasPrefix(".") || name.contains("/") || name.contains("\\") {
                fail("allowedVmTemplates[\(index)]", "must be a template name without a path, got \"\(name)\"")
            }
        }
        for (index, command) in security.allowedCommands.enumerated() where command.isEmpty {
            fail("allowedCommands[\(index)]", "must not be empty")
        }
        for (keyID, encoded) in security.jobSigningKeys.sorted(by: { $0.key < $1.key }) {
            let bytes = Data(base64Encoded: encoded) ?? SignedJob.base64URLDecode(encoded)
            if bytes?.count != 32 {
                fail("jobSigningKeys.\(keyID)", "must be a base64 Ed25519 public key (32 bytes)")
            }
        }
    }

    private func validateLimits(_ limits: ResourceLimits, _ problems: inout [ConfigProblem]) {
        for (perVM, total, perName, totalName) in [
            (limits.maxCpuPerVm, limits.maxTotalCpu, "maxCpuPerVm", "maxTotalCpu"),
            (limits.maxMemoryPerVm, limits.maxTotalMemory, "maxMemoryPerVm", "maxTotalMemory"),
            (limits.maxDiskPerVm, limits.maxTotalDisk, "maxDiskPerVm", "maxTotalDisk"),
        ] where perVM > total {
            problems.append(
                ConfigProblem(
                    .error, "resourceLimits.\(perName)", "must not exceed \(totalName) (\(total)), got \(perVM)"))
        }
    }

    /// Why `text` is not an acceptable control plane URL, or nil.
    static func controlPlaneURLProblem(_ text: String, allowInsecure: Bool) -> String? {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), let host = url.host,
            !host.isEmpty
        else {
            return "must be an absolute http(s) URL, got \"\(text)\""
        }
        if url.user != nil || url.password != nil {
            return "must not contain credentials (use controlPlaneApiKeyFile)"
        }
        if url.query != nil || url.fragment != nil {
            return "must not have a query or fragment, got \"\(text)\""
        }
        switch scheme {
        case "https":
            return nil
        case "http":
            if isLoopback(host) || allowInsecure { return nil }
            return "http:// is only allowed for loopback hosts or with security.allowInsecureHttp"
        default:
            return "must use https:// (or http:// to a loopback host), got \"\(scheme)://\""
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if bare == "localhost" || bare == "::1" { return true }
        if let range = IPRange(parsing: bare), let loopback = IPRange(parsing: "127.0.0.0/8") {
            return loopback.contains(range)
        }
        return false
    }
}
