import Models

/// The agent's effective configuration. Every key is documented here, where it is
/// decoded (`ConfigLoader`), in `config.template.json` and in the README.
public struct AgentConfig: Sendable, Equatable {
    public struct Security: Sendable, Equatable {
        /// Addresses and CIDR ranges the control plane host must resolve into; empty allows any.
        public var allowedControlPlaneIps: [String] = []
        /// The cap (ms) on every job's timeout.
        public var maxCommandTimeout = 300_000
        /// Hold execute_command jobs until an operator approves them locally.
        public var requireCommandApproval = false
        /// ms a command waits for approval before it is rejected with `approval_timeout`.
        public var approvalTimeout = 900_000
        /// Template names create_vm may use (files `<templatesDir>/<name>.yaml`).
        public var allowedVmTemplates = ["webapp", "api", "database", "dev"]
        /// Allow `http://` to a non-loopback control plane (a warning is logged).
        public var allowInsecureHttp = false
        /// Executables execute_command may run; empty means any.
        public var allowedCommands: [String] = []
        /// Key id → base64 Ed25519 public key; when non-empty every job must be signed.
        public var jobSigningKeys: [String: String] = [:]

        public init() {}
    }

    /// Base URL of the control plane, e.g. `https://api.limahost.com`.
    public var controlPlaneUrl: String?
    /// The API key, from `--api-key`, `LIMAHOST_API_KEY`, `controlPlaneApiKeyFile` or the file.
    public var controlPlaneApiKey: Secret?
    /// A file holding the API key (first line), so the key need not sit in the config.
    public var controlPlaneApiKeyFile: String?
    public var agentId: String
    public var agentName: String
    /// ms between heartbeats (a report goes out at least this often).
    public var heartbeatInterval = 30_000
    /// ms between metrics samples.
    public var metricsInterval = 10_000
    /// ms the control plane may hold a claim (the long poll's `wait`).
    public var pollWait = 30_000
    /// ms between claims when the long poll cannot be used; 0 (the default) long-polls.
    /// When set, claims carry `wait` 0 and an empty reply waits this long before the next.
    public var pollInterval = 0
    /// LIMA_HOME for limactl; `~` is the home of `limaUser` (or of the agent's user).
    public var vmDataDir = "~/.lima"
    /// Jobs run at once.
    public var maxConcurrentOperations = 3
    public var logLevel = LogLevelName.info
    /// Also append log lines to this file.
    public var logFile: String?
    /// The limactl executable; a bare name is looked up on PATH.
    public var limactlPath = "limactl"
    /// The unprivileged user limactl runs as when the agent runs as root (Lima refuses root).
    public var limaUser: String?
    public var templatesDir = "/etc/limahost/templates"
    public var stateDir = "/var/lib/limahost-agent"
    public var backupDir = "/var/lib/limahost-agent/backups"
    /// Bytes of stdout and of stderr kept per job; the rest is dropped and `outputTruncated` set.
    public var maxOutputBytes = 1_048_576
    /// ms a graceful stop waits for running jobs before cancelling them.
    public var drainTimeout = 600_000
    /// ms `--drain` keeps retrying a control plane that fails every request before it exits 3.
    public var drainRetryTimeout = 60_000
    /// Bytes the outbox may hold; past it the oldest metrics, then logs, are dropped. Results never are.
    public var outboxMaxBytes = 67_108_864
    public var security = Security()
    public var resourceLimits = ResourceLimits()

    public init(agentId: String, agentName: String) {
        self.agentId = agentId
        self.agentName = agentName
    }
}
