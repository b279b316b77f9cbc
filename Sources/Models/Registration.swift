/// `POST /v1/agents/{agentId}/register` body (§3).
public struct Registration: Codable, Sendable, Equatable {
    public struct Host: Codable, Sendable, Equatable {
        public var hostname: String
        public var os: String
        public var arch: String
        public var cpus: Int
        public var memoryBytes: Int64
        public var diskBytes: Int64

        public init(hostname: String, os: String, arch: String, cpus: Int, memoryBytes: Int64, diskBytes: Int64) {
            self.hostname = hostname
            self.os = os
            self.arch = arch
            self.cpus = cpus
            self.memoryBytes = memoryBytes
            self.diskBytes = diskBytes
        }
    }

    public struct Lima: Codable, Sendable, Equatable {
        public var version: String

        public init(version: String) { self.version = version }
    }

    public struct Capabilities: Codable, Sendable, Equatable {
        public var jobTypes: [JobType]
        public var maxConcurrentOperations: Int
        public var templates: [String]

        public init(jobTypes: [JobType], maxConcurrentOperations: Int, templates: [String]) {
            self.jobTypes = jobTypes
            self.maxConcurrentOperations = maxConcurrentOperations
            self.templates = templates
        }
    }

    public var agentId: String
    public var agentName: String
    public var version: String
    public var `protocol`: Int
    public var host: Host
    /// `null` on the wire when limactl cannot be found or run.
    public var lima: Lima?
    public var capabilities: Capabilities
    public var resourceLimits: ResourceLimits

    public init(
        agentId: String, agentName: String, version: String, protocol: Int = 1, host: Host,
        lima: Lima?, capabilities: Capabilities, resourceLimits: ResourceLimits
    ) {
        self.agentId = agentId
        self.agentName = agentName
        self.version = version
        self.protocol = `protocol`
        self.host = host
        self.lima = lima
        self.capabilities = capabilities
        self.resourceLimits = resourceLimits
    }

    private enum CodingKeys: String, CodingKey {
        case agentId, agentName, version, `protocol`, host, lima, capabilities, resourceLimits
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(agentId, forKey: .agentId)
        try container.encode(agentName, forKey: .agentName)
        try container.encode(version, forKey: .version)
        try container.encode(`protocol`, forKey: .protocol)
        try container.encode(host, forKey: .host)
        // Written as an explicit null: the API says `lima` is null when limactl is missing.
        try container.encode(lima, forKey: .lima)
        try container.encode(capabilities, forKey: .capabilities)
        try container.encode(resourceLimits, forKey: .resourceLimits)
    }
}
