import Foundation
import Models
import Testing

@testable import PollWorker

private typealias Resources = JobPolicy.Resources

/// Templates on a pretend disk under `/t`: `webapp` sets everything, `api` only memory,
/// `dev` nothing; `database` is allowed but has no file.
private let templateFiles: [String: Data] = [
    "/t/webapp.yaml": Data("cpus: 2\nmemory: \"4GiB\"\ndisk: \"30GiB\"\n".utf8),
    "/t/api.yaml": Data("# only memory here\nmemory: 512MiB\n".utf8),
    "/t/dev.yaml": Data("vmType: qemu\nmounts: []\n".utf8),
]

/// A pretend file system for `realPath`: the paths that exist and what they resolve to.
/// `/b/link` is a symlink to `/etc`.
private let backupTree: [String: String] = [
    "/": "/", "/b": "/b", "/b/sub": "/b/sub", "/b/link": "/etc", "/etc": "/etc",
]

private func policyConfig(
    limits: ResourceLimits = ResourceLimits(), allowedCommands: [String] = [], backupDir: String = "/b"
) -> AgentConfig {
    var config = AgentConfig(agentId: "host-1", agentName: "host-1")
    config.templatesDir = "/t"
    config.backupDir = backupDir
    config.resourceLimits = limits
    config.security.allowedCommands = allowedCommands
    return config
}

private func policy(
    limits: ResourceLimits = ResourceLimits(), allowedCommands: [String] = [], backupDir: String = "/b",
    tree: [String: String] = backupTree
) -> JobPolicy {
    JobPolicy(
        config: policyConfig(limits: limits, allowedCommands: allowedCommands, backupDir: backupDir),
        readFile: { templateFiles[$0] }, realPath: { tree[$0] })
}

private func createVM(template: String, cpus: Int? = nil, memory: Double? = nil, disk: Double? = nil)
    -> JobParameters.CreateVM
{
    JobParameters.CreateVM(
        vmName: "web", template: template, config: .init(cpus: cpus, memory: memory, disk: disk))
}

private let gibibyte: Double = 1_073_741_824

/// A VM `limactl list` shows, with its memory and disk given in GiB.
private func existingVM(_ name: String, cpus: Int, memory: Double, disk: Double) -> VMInfo {
    VMInfo(
        name: name, status: "Stopped", cpus: cpus, memoryBytes: Int64(memory * gibibyte),
        diskBytes: Int64(disk * gibibyte), arch: "x86_64", vmType: "qemu", dir: "/home/limahost/.lima/\(name)")
}

@Suite("JobPolicy: templates and resources")
struct JobPolicyTemplateTests {
    @Test("An allowed template whose file exists resolves to its path under templatesDir")
    func allowedTemplate() throws {
        #expect(try policy().templatePath("webapp") == "/t/webapp.yaml")
        #expect(try policy().templatePath("dev") == "/t/dev.yaml")
    }

    @Test(
        "A template name with a path component is denied",
        arguments: ["../x", "a/b", ".hidden", "", "a\\b", "..", "/etc/passwd"])
    func pathComponents(name: String) throws {
        let error = try #require(throws: JobError.self) { try policy().templatePath(name) }
        #expect(error.status == .rejected)
        #expect(error.code == .policyDenied)
        #expect(error.message.contains("no paths allowed"))
    }

    @Test("A template not in allowedVmTemplates is denied, naming the key")
    func notAllowed() throws {
        let error = try #require(throws: JobError.self) { try policy().templatePath("windows") }
        #expect(error.status == .rejected)
        #expect(error.code == .policyDenied)
        #expect(error.message.contains("\"windows\""))
        #expect(error.message.contains("security.allowedVmTemplates"))
    }

    @Test("An allowed template with no file is denied")
    func missingFile() throws {
        let error = try #require(throws: JobError.self) { try policy().templatePath("database") }
        #expect(error.status == .rejected)
        #expect(error.code == .policyDenied)
        #expect(error.message.contains("/t/database.yaml"))
    }

    @Test("create_vm's own config wins over the template")
    func configWins() throws {
        let resources = try policy().resources(createVM(template: "webapp", cpus: 1, memory: 1.5, disk: 10))
        #expect(resources == Resources(cpus: 1, memory: 1.5, disk: 10))
    }

    @Test("Without config values the template's values are used")
    func templateValues() throws {
        #expect(try policy().resources(createVM(template: "webapp")) == Resources(cpus: 2, memory: 4, disk: 30))
    }

    @Test("Without config or template values Lima's defaults apply")
    func limaDefaults() throws {
        #expect(try policy().resources(createVM(template: "dev")) == Resources(cpus: 4, memory: 4, disk: 100))
        #expect(JobPolicy.limaDefaults == Resources(cpus: 4, memory: 4, disk: 100))
    }

    @Test("Each value is taken separately: config, else template, else default")
    func mixedSources() throws {
        #expect(
            try policy().resources(createVM(template: "api", cpus: 3)) == Resources(cpus: 3, memory: 0.5, disk: 100))
    }

    @Test("resources() refuses a template that is not allowed")
    func resourcesOfDisallowedTemplate() throws {
        let error = try #require(throws: JobError.self) { try policy().resources(createVM(template: "windows")) }
        #expect(error.code == .policyDenied)
    }
}

@Suite("JobPolicy: resource limits")
struct JobPolicyLimitTests {
    /// Per-VM defaults: 8 cpus, 16 GiB memory, 100 GiB disk.
    @Test(
        "A VM over a per-VM limit is refused, naming the limit",
        arguments: [
            (Resources(cpus: 9, memory: 16, disk: 100), "resourceLimits.maxCpuPerVm"),
            (Resources(cpus: 8, memory: 16.5, disk: 100), "resourceLimits.maxMemoryPerVm"),
            (Resources(cpus: 8, memory: 16, disk: 101), "resourceLimits.maxDiskPerVm"),
        ])
    func overPerVM(request: JobPolicy.Resources, key: String) throws {
        let error = try #require(throws: JobError.self) { try policy().checkPerVM(request) }
        #expect(error.status == .rejected)
        #expect(error.code == .resourceLimitExceeded)
        #expect(error.message.contains(key))
    }

    @Test("A VM exactly at every per-VM limit is allowed")
    func atPerVM() {
        #expect(throws: Never.self) { try policy().checkPerVM(Resources(cpus: 8, memory: 16, disk: 100)) }
    }

    private static let totals = ResourceLimits(
        maxVmsPerAgent: 2, maxCpuPerVm: 8, maxMemoryPerVm: 16, maxDiskPerVm: 100, maxTotalCpu: 8, maxTotalMemory: 8,
        maxTotalDisk: 100)

    @Test("One VM more than maxVmsPerAgent is refused; up to it is allowed")
    func vmCount() throws {
        let subject = policy(limits: Self.totals)
        let small = Resources(cpus: 1, memory: 1, disk: 1)
        let one = [existingVM("a", cpus: 1, memory: 1, disk: 1)]
        #expect(throws: Never.self) { try subject.checkTotals(adding: small, to: one) }
        let two = one + [existingVM("b", cpus: 1, memory: 1, disk: 1)]
        let error = try #require(throws: JobError.self) { try subject.checkTotals(adding: small, to: two) }
        #expect(error.code == .resourceLimitExceeded)
        #expect(error.message.contains("resourceLimits.maxVmsPerAgent"))
    }

    @Test("Totals exactly at the limits, counting the existing VMs' bytes as GiB, are allowed")
    func atTotals() {
        let subject = policy(limits: Self.totals)
        let existing = [existingVM("a", cpus: 4, memory: 1.5, disk: 50)]
        #expect(throws: Never.self) {
            try subject.checkTotals(adding: Resources(cpus: 4, memory: 6.5, disk: 50), to: existing)
        }
    }

    @Test(
        "Totals above a limit are refused, naming the limit",
        arguments: [
            (Resources(cpus: 5, memory: 6.5, disk: 50), "resourceLimits.maxTotalCpu"),
            (Resources(cpus: 4, memory: 7, disk: 50), "resourceLimits.maxTotalMemory"),
            (Resources(cpus: 4, memory: 6.5, disk: 51), "resourceLimits.maxTotalDisk"),
        ])
    func overTotals(request: JobPolicy.Resources, key: String) throws {
        let subject = policy(limits: Self.totals)
        let existing = [existingVM("a", cpus: 4, memory: 1.5, disk: 50)]
        let error = try #require(throws: JobError.self) { try subject.checkTotals(adding: request, to: existing) }
        #expect(error.status == .rejected)
        #expect(error.code == .resourceLimitExceeded)
        #expect(error.message.contains(key))
    }

    @Test("The existing VMs count in the totals: the same request fits on an empty host")
    func existingCount() throws {
        let subject = policy(limits: Self.totals)
        let request = Resources(cpus: 6, memory: 6, disk: 60)
        #expect(throws: Never.self) { try subject.checkTotals(adding: request, to: []) }
        let existing = [existingVM("a", cpus: 3, memory: 1, disk: 1)]
        let error = try #require(throws: JobError.self) { try subject.checkTotals(adding: request, to: existing) }
        #expect(error.message.contains("resourceLimits.maxTotalCpu"))
    }
}

@Suite("JobPolicy: security.allowedCommands")
struct JobPolicyCommandTests {
    private let subject = policy(allowedCommands: ["echo", "/usr/bin/uptime"])

    @Test("An argv whose argv[0] is listed exactly is allowed", arguments: [["echo", "x"], ["/usr/bin/uptime"]])
    func argvAllowed(argv: [String]) {
        #expect(throws: Never.self) { try subject.checkCommand(.argv(argv)) }
    }

    @Test(
        "An argv whose argv[0] is not listed exactly is refused",
        arguments: [["/bin/echo"], ["uptime"], ["echo2", "x"], ["rm", "echo"]])
    func argvRefused(argv: [String]) throws {
        let error = try #require(throws: JobError.self) { try subject.checkCommand(.argv(argv)) }
        #expect(error.status == .rejected)
        #expect(error.code == .policyDenied)
        #expect(error.message.contains("argv[0]"))
        #expect(error.message.contains("security.allowedCommands"))
    }

    @Test(
        "Without allowedCommands any command is allowed, metacharacters and all",
        arguments: [
            JobParameters.ExecuteCommand.Command.shell("rm -rf / ; echo $(id) | tee `x` > /dev/null"),
            .argv(["/bin/sh", "-c", "id"]),
        ])
    func emptyAllowsAll(command: JobParameters.ExecuteCommand.Command) {
        #expect(throws: Never.self) { try policy().checkCommand(command) }
    }

    @Test(
        "A plain command string whose first word is listed is allowed",
        arguments: ["echo hello world", "echo", "  echo x", "\techo x", "/usr/bin/uptime -p"])
    func shellAllowed(text: String) {
        #expect(throws: Never.self) { try subject.checkCommand(.shell(text)) }
    }

    @Test(
        "A command string with a shell metacharacter is refused, naming the character",
        arguments: [
            ";", "|", "&", "$", "`", "<", ">", "(", ")", "{", "}", "\n", "\r", "*", "?", "[", "]", "~", "!", "#", "\\",
            "'", "\"",
        ])
    func metacharacter(character: String) throws {
        let error = try #require(throws: JobError.self) { try subject.checkCommand(.shell("echo a\(character)b")) }
        #expect(error.status == .rejected)
        #expect(error.code == .policyDenied)
        let named =
            switch character {
            case "\n": "newline"
            case "\r": "carriage return"
            default: "\"\(character)\""
            }
        #expect(error.message.contains("shell metacharacter \(named)"))
    }

    @Test("A command string whose first word is not listed is refused, naming the word")
    func shellNotListed() throws {
        let error = try #require(throws: JobError.self) { try subject.checkCommand(.shell("uname -a")) }
        #expect(error.code == .policyDenied)
        #expect(error.message.contains("\"uname\""))
        #expect(error.message.contains("security.allowedCommands"))
    }

    @Test("A listed word later in a command string does not make it allowed")
    func listedWordLater() throws {
        let error = try #require(throws: JobError.self) { try subject.checkCommand(.shell("uptime echo")) }
        #expect(error.message.contains("\"uptime\""))
    }
}

@Suite("JobPolicy: backup paths")
struct JobPolicyBackupTests {
    @Test(
        "A path inside backupDir resolves there",
        arguments: [
            ("x.tar.gz", "/b/x.tar.gz"), ("/b/sub/x.tar.gz", "/b/sub/x.tar.gz"), ("sub/x.tar.gz", "/b/sub/x.tar.gz"),
            ("/b/new/deeper/x.tar.gz", "/b/new/deeper/x.tar.gz"),
        ])
    func inside(given: String, resolved: String) throws {
        #expect(try policy().backupPath(given) == resolved)
    }

    @Test(
        "A path that is empty, climbs out, or resolves outside backupDir is denied",
        arguments: ["../x", "/b/../etc/x", "/etc/x", "link/x.tar.gz", "/b/link/x.tar.gz", "", "./x", "/b2/x"])
    func outside(given: String) throws {
        let error = try #require(throws: JobError.self) { try policy().backupPath(given) }
        #expect(error.status == .rejected)
        #expect(error.code == .policyDenied)
        #expect(error.message.hasPrefix("backupPath:"))
        #expect(error.message.contains("backupDir"))
    }

    @Test("A backupDir that is itself a symlink is resolved before the comparison")
    func symlinkedBackupDir() throws {
        let tree = ["/": "/", "/b": "/data/b", "/data": "/data", "/data/b": "/data/b"]
        let subject = policy(tree: tree)
        #expect(try subject.backupPath("/b/x") == "/data/b/x")
        #expect(try subject.backupPath("x") == "/data/b/x")
        #expect(try subject.backupPath("/data/b/x") == "/data/b/x")
        #expect(throws: JobError.self) { try subject.backupPath("/data/x") }
    }
}

@Suite("JobPolicy: check(job)")
struct JobPolicyCheckTests {
    private let subject = policy(allowedCommands: ["echo"])

    private func job(_ parameters: JobParameters) -> Job {
        Job(id: "job-1", attempt: 1, leaseExpiresAt: fixedNow, parameters: parameters)
    }

    @Test("create_vm over a per-VM limit is refused")
    func createOverLimit() throws {
        let error = try #require(throws: JobError.self) {
            try subject.check(job(.createVM(createVM(template: "webapp", cpus: 9))))
        }
        #expect(error.code == .resourceLimitExceeded)
        #expect(error.message.contains("resourceLimits.maxCpuPerVm"))
    }

    @Test("create_vm with a template's values over a limit is refused")
    func createTemplateOverLimit() throws {
        // The template asks for 30 GiB of disk.
        let limits = ResourceLimits(maxDiskPerVm: 20)
        let error = try #require(throws: JobError.self) {
            try policy(limits: limits).check(job(.createVM(createVM(template: "webapp"))))
        }
        #expect(error.message.contains("resourceLimits.maxDiskPerVm"))
    }

    @Test("execute_command with a command not allowed is refused")
    func executeRefused() throws {
        let parameters = JobParameters.ExecuteCommand(vmName: "dev", command: .shell("rm -rf /"))
        let error = try #require(throws: JobError.self) { try subject.check(job(.executeCommand(parameters))) }
        #expect(error.code == .policyDenied)
        #expect(error.message.contains("security.allowedCommands"))
    }

    @Test("backup_vm and restore_vm with a path outside backupDir are refused")
    func backupRefused() throws {
        let backup = try #require(throws: JobError.self) {
            try subject.check(job(.backupVM(.init(vmName: "dev", backupPath: "../x"))))
        }
        #expect(backup.code == .policyDenied)
        let restore = try #require(throws: JobError.self) {
            try subject.check(job(.restoreVM(.init(backupPath: "/etc/x", vmName: "dev"))))
        }
        #expect(restore.code == .policyDenied)
    }

    @Test("Jobs the policy allows pass")
    func allowed() {
        #expect(throws: Never.self) { try subject.check(job(.listVMs)) }
        #expect(throws: Never.self) { try subject.check(job(.startVM(.init(vmName: "dev")))) }
        #expect(throws: Never.self) { try subject.check(job(.createVM(createVM(template: "webapp")))) }
        #expect(throws: Never.self) {
            try subject.check(job(.executeCommand(.init(vmName: "dev", command: .argv(["echo", "hi"])))))
        }
        #expect(throws: Never.self) { try subject.check(job(.backupVM(.init(vmName: "dev", backupPath: "x.tar.gz")))) }
    }
}
