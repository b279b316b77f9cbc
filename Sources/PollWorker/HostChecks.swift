import Foundation

/// Checks of the host against the configuration: things a valid file can still
/// get wrong on a given machine (a user that does not exist, root without limaUser).
/// `--check-config` shows them; the agent refuses to start on them.
public struct HostChecks: Sendable {
    public var effectiveUserIsRoot: Bool
    public var lookupUser: @Sendable (String) -> UserAccount?
    public var currentUser: @Sendable () -> UserAccount
    public var executableOnPath: @Sendable (String) -> String?

    public init(
        effectiveUserIsRoot: Bool, lookupUser: @escaping @Sendable (String) -> UserAccount?,
        currentUser: @escaping @Sendable () -> UserAccount,
        executableOnPath: @escaping @Sendable (String) -> String?
    ) {
        self.effectiveUserIsRoot = effectiveUserIsRoot
        self.lookupUser = lookupUser
        self.currentUser = currentUser
        self.executableOnPath = executableOnPath
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
