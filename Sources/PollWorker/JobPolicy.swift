import Foundation
import Models

/// The rules a job must pass before anything of it runs (apart from the totals,
/// which need `limactl list`: `checkTotals`). Each refusal is a `JobError`
/// (`rejected`, `policy_denied` or `resource_limit_exceeded`) whose message names
/// the rule and the configuration key behind it.
public struct JobPolicy: Sendable {
    /// What a VM asks for: cpus, memory and disk in GiB.
    public struct Resources: Sendable, Equatable {
        public var cpus: Int
        public var memory: Double
        public var disk: Double

        public init(cpus: Int, memory: Double, disk: Double) {
            self.cpus = cpus
            self.memory = memory
            self.disk = disk
        }
    }

    /// Lima's defaults for a template that names no cpus, memory or disk (limactl-reference.md).
    public static let limaDefaults = Resources(cpus: 4, memory: 4, disk: 100)

    /// Characters that make a `command` string more than one plain command: a command
    /// string is allowed under `security.allowedCommands` only without any of them.
    public static let shellMetacharacters: Set<Character> = [
        ";", "|", "&", "$", "`", "<", ">", "(", ")", "{", "}", "\n", "\r", "*", "?", "[", "]", "~", "!", "#",
        "\\", "'", "\"",
    ]

    let config: AgentConfig
    let readFile: @Sendable (String) -> Data?
    let realPath: @Sendable (String) -> String?

    public init(
        config: AgentConfig,
        readFile: @escaping @Sendable (String) -> Data? = { FileManager.default.contents(atPath: $0) },
        realPath: @escaping @Sendable (String) -> String? = JobPolicy.resolve
    ) {
        self.config = config
        self.readFile = readFile
        self.realPath = realPath
    }

    /// Every rule that needs no VM, for one job.
    public func check(_ job: Job) throws(JobError) {
        switch job.parameters {
        case .createVM(let parameters):
            try checkPerVM(try resources(parameters))
        case .executeCommand(let parameters):
            try checkCommand(parameters.command)
        case .backupVM(let parameters):
            _ = try backupPath(parameters.backupPath)
        case .restoreVM(let parameters):
            _ = try backupPath(parameters.backupPath)
        case .startVM, .stopVM, .restartVM, .deleteVM, .getVMInfo, .listVMs, .collectLogs:
            break
        }
    }

    // MARK: - Templates and resources

    /// `<templatesDir>/<name>.yaml`, only for allowed names without a path component.
    public func templatePath(_ name: String) throws(JobError) -> String {
        if name.isEmpty || name.contains("/") || name.contains("\\") || name.hasPrefix(".") || name.contains("\0") {
            throw .rejected(.policyDenied, "template: \"\(name)\" is not a template name (no paths allowed)")
        }
        guard config.security.allowedVmTemplates.contains(name) else {
            throw .rejected(
                .policyDenied,
                "template: \"\(name)\" is not in security.allowedVmTemplates "
                    + "(\(config.security.allowedVmTemplates.joined(separator: ", ")))")
        }
        let path = "\(config.templatesDir)/\(name).yaml"
        guard readFile(path) != nil else {
            throw .rejected(.policyDenied, "template: \(path) does not exist or cannot be read (templatesDir)")
        }
        return path
    }

    /// What a `create_vm` asks for: its `config`, else the template's values, else Lima's defaults.
    public func resources(_ parameters: JobParameters.CreateVM) throws(JobError) -> Resources {
        let path = try templatePath(parameters.template)
        let template = TemplateResources.parse(readFile(path) ?? Data())
        return Resources(
            cpus: parameters.config.cpus ?? template.cpus ?? Self.limaDefaults.cpus,
            memory: parameters.config.memory ?? template.memory ?? Self.limaDefaults.memory,
            disk: parameters.config.disk ?? template.disk ?? Self.limaDefaults.disk)
    }

    public func checkPerVM(_ request: Resources) throws(JobError) {
        let limits = config.resourceLimits
        if request.cpus > limits.maxCpuPerVm {
            throw .rejected(
                .resourceLimitExceeded,
                "cpus: \(request.cpus) exceeds resourceLimits.maxCpuPerVm (\(limits.maxCpuPerVm))")
        }
        if request.memory > Double(limits.maxMemoryPerVm) {
            throw .rejected(
                .resourceLimitExceeded,
                "memory: \(Self.gib(request.memory)) GiB exceeds resourceLimits.maxMemoryPerVm (\(limits.maxMemoryPerVm))"
            )
        }
        if request.disk > Double(limits.maxDiskPerVm) {
            throw .rejected(
                .resourceLimitExceeded,
                "disk: \(Self.gib(request.disk)) GiB exceeds resourceLimits.maxDiskPerVm (\(limits.maxDiskPerVm))")
        }
    }

    /// The agent's totals: every VM `limactl list` shows plus the new one.
    public func checkTotals(adding request: Resources, to existing: [VMInfo]) throws(JobError) {
        let limits = config.resourceLimits
        if existing.count + 1 > limits.maxVmsPerAgent {
            throw .rejected(
                .resourceLimitExceeded,
                "VMs: this agent has \(existing.count); one more exceeds resourceLimits.maxVmsPerAgent (\(limits.maxVmsPerAgent))"
            )
        }
        let gibibyte = 1_073_741_824.0
        let cpus = existing.reduce(0) { $0 + $1.cpus } + request.cpus
        let memory = existing.reduce(0) { $0 + Double($1.memoryBytes) / gibibyte } + request.memory
        let disk = existing.reduce(0) { $0 + Double($1.diskBytes) / gibibyte } + request.disk
        if cpus > limits.maxTotalCpu {
            throw .rejected(
                .resourceLimitExceeded,
                "cpus: \(cpus) in all with this VM exceeds resourceLimits.maxTotalCpu (\(limits.maxTotalCpu))")
        }
        if memory > Double(limits.maxTotalMemory) + 1e-9 {
            throw .rejected(
                .resourceLimitExceeded,
                "memory: \(Self.gib(memory)) GiB in all with this VM exceeds resourceLimits.maxTotalMemory (\(limits.maxTotalMemory))"
            )
        }
        if disk > Double(limits.maxTotalDisk) + 1e-9 {
            throw .rejected(
                .resourceLimitExceeded,
                "disk: \(Self.gib(disk)) GiB in all with this VM exceeds resourceLimits.maxTotalDisk (\(limits.maxTotalDisk))"
            )
        }
    }

    static func gib(_ value: Double) -> String {
        let rounded = (value * 100).rounded() / 100
        return rounded == rounded.rounded() ? String(Int64(rounded)) : String(rounded)
    }

    // MARK: - Commands

    /// `security.allowedCommands`: when set, an `argv` job's argv[0] must be listed
    /// exactly; a `command` string must hold no shell metacharacter and its first
    /// word must be listed exactly. A listed bare name matches only that bare name.
    public func checkCommand(_ command: JobParameters.ExecuteCommand.Command) throws(JobError) {
        let allowed = config.security.allowedCommands
        guard !allowed.isEmpty else { return }
        switch command {
        case .argv(let argv):
            let first = argv.first ?? ""
            guard allowed.contains(first) else {
                throw .rejected(
                    .policyDenied,
                    "argv[0]: \"\(first)\" is not in security.allowedCommands (\(allowed.joined(separator: ", ")))")
            }
        case .shell(let text):
            if let bad = text.first(where: { Self.shellMetacharacters.contains($0) }) {
                throw .rejected(
                    .policyDenied,
                    "command: contains the shell metacharacter \(Self.describe(bad)); with security.allowedCommands set, "
                        + "a command string must be one plain command (use argv for anything else)")
            }
            let first = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).first.map(String.init) ?? ""
            guard allowed.contains(first) else {
                throw .rejected(
                    .policyDenied,
                    "command: \"\(first)\" is not in security.allowedCommands (\(allowed.joined(separator: ", ")))")
            }
        }
    }

    static func describe(_ character: Character) -> String {
        switch character {
        case "\n": "newline"
        case "\r": "carriage return"
        default: "\"\(character)\""
        }
    }

    // MARK: - Backups

    /// `backupPath` resolved inside `backupDir`: relative paths are taken from it;
    /// no `..` component; symlinks resolved, and the result must still be inside.
    public func backupPath(_ given: String) throws(JobError) -> String {
        let base = config.backupDir
        let joined = given.hasPrefix("/") ? given : base + "/" + given
        let components = joined.split(separator: "/", omittingEmptySubsequences: true)
        if given.isEmpty || components.contains("..") || components.contains(".") || given.contains("\0") {
            throw .rejected(.policyDenied, "backupPath: \"\(given)\" must be a plain path inside backupDir (\(base))")
        }
        let resolvedBase = realPath(base) ?? base
        let resolved = resolveExisting(components.map(String.init))
        guard resolved.hasPrefix(resolvedBase.hasSuffix("/") ? resolvedBase : resolvedBase + "/") else {
            throw .rejected(
                .policyDenied, "backupPath: \"\(given)\" resolves to \(resolved), outside backupDir (\(resolvedBase))")
        }
        return resolved
    }

    /// The path with its deepest existing ancestor's symlinks resolved.
    private func resolveExisting(_ components: [String]) -> String {
        var split = components.count
        while split > 0 {
            let prefix = "/" + components[..<split].joined(separator: "/")
            if let real = realPath(prefix) {
                let rest = components[split...].joined(separator: "/")
                return rest.isEmpty ? real : (real == "/" ? "/" + rest : real + "/" + rest)
            }
            split -= 1
        }
        return "/" + components.joined(separator: "/")
    }

    /// realpath(3): nil when the path does not exist.
    public static func resolve(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
