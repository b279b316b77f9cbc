import Foundation

/// Checks of the host against the configuration: things a valid file can still
/// get wrong on a given machine (a user that does not exist, root without limaUser).
/// `--check-config` shows them; the agent refuses to start on them.
public struct HostChecks: Sendable {
    public var effectiveUserIsRoot: Bool
    public var lookupUser: @Sendable (String) -> UserAccount?
    public var currentUser: @Sendable () -> UserAccount
    public var executableOnPath: @Sendable (String) -> String?
    /// A file's permission bits (stat), nil when it cannot be read.
    public var fileMode: @Sendable (String) -> UInt32?

    public init(
        effectiveUserIsRoot: Bool, lookupUser: @escaping @Sendable (String) -> UserAccount?,
        currentUser: @escaping @Sendable () -> UserAccount,
        executableOnPath: @escaping @Sendable (String) -> String?,
        fileMode: @escaping @Sendable (String) -> UInt32? = HostChecks.statMode
    ) {
        self.effectiveUserIsRoot = effectiveUserIsRoot
        self.lookupUser = lookupUser
        self.currentUser = currentUser
        self.executableOnPath = executableOnPath
        self.fileMode = fileMode
    }

    /// Who may read and write the files that hold the key or steer the agent: the
    /// configuration file and the key file. Writable by other users is an error (anyone
    /// could swap the key or point limactlPath elsewhere); a file holding the key that
    /// other users can read is a warning.
    public func credentialProblems(_ result: ConfigLoadResult) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        var files: [(key: String, path: String)] = []
        if let mode = fileMode(result.path), mode & 0o002 != 0 {
            problems.append(
                ConfigProblem(
                    .host, "configuration file",
                    "\(result.path) is writable by other users (mode \(Self.octal(mode))): chmod o-w it"))
        }
        if let keyFile = result.keyFile {
            files.append((keyFile == result.path ? "controlPlaneApiKey" : "controlPlaneApiKeyFile", keyFile))
        }
        for (key, path) in files {
            guard let mode = fileMode(path) else { continue }
            if mode & 0o002 != 0, path != result.path {
                problems.append(
                    ConfigProblem(
                        .host, key,
                        "\(path) holds the API key and is writable by other users (mode \(Self.octal(mode))): chmod 600 it"
                    ))
            } else if mode & 0o004 != 0 {
                problems.append(
                    ConfigProblem(
                        .warning, key,
                        "\(path) holds the API key and is readable by other users (mode \(Self.octal(mode))): chmod 600 it"
                    ))
            }
        }
        return problems
    }

    static func octal(_ mode: UInt32) -> String { "0" + String(mode & 0o7777, radix: 8) }

    /// The permission bits of `path`, following symlinks.
    public static func statMode(_ path: String) -> UInt32? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return UInt32(info.st_mode) & 0o7777
    }

    /// The account limactl runs as: `limaUser` when set, else the agent's own.
    public func limaAccount(_ config: AgentConfig) -> UserAccount? {
        if let name = config.limaUser { return lookupUser(name) }
        return currentUser()
    }

    public func problems(_ config: AgentConfig) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        if let name = config.limaUser {
            if let account = lookupUser(name) {
                if account.uid == 0 {
                    problems.append(
                        ConfigProblem(.error, "limaUser", "must not be root: limactl refuses to run as root"))
                } else if !effectiveUserIsRoot && account.uid != currentUser().uid {
                    problems.append(
                        ConfigProblem(
                            .host, "limaUser",
                            "the agent runs as \(currentUser().name), not root, so it cannot run limactl as \(name)"))
                }
            } else {
                problems.append(ConfigProblem(.host, "limaUser", "no user named \"\(name)\" on this host"))
            }
        } else if effectiveUserIsRoot {
            problems.append(
                ConfigProblem(
                    .host, "limaUser",
                    "required when the agent runs as root: limactl refuses root, so set an unprivileged user"))
        }
        if executableOnPath(config.limactlPath) == nil {
            problems.append(
                ConfigProblem(
                    .warning, "limactlPath",
                    "\(config.limactlPath) is not an executable here; jobs will fail with limactl_unavailable"))
        }
        return problems
    }

    /// The real host.
    public static func live(environment: [String: String]) -> HostChecks {
        HostChecks(
            effectiveUserIsRoot: geteuid() == 0, lookupUser: UserAccount.lookup, currentUser: UserAccount.current,
            executableOnPath: { ExecutableLookup.find($0, path: environment["PATH"]) })
    }
}
