/// A VM as results describe it (§4.2 `get_vm_info`).
public struct VMInfo: Codable, Sendable, Equatable {
    public struct Usage: Codable, Sendable, Equatable {
        public var cpuPercent: Double
        public var rssBytes: Int64
        public init(cpuPercent: Double, rssBytes: Int64) {
            self.cpuPercent = cpuPercent
            self.rssBytes = rssBytes
        }
    }

    public var name: String
    /// Lima's status: `Running`, `Stopped`, `Broken`, or "" when unknown.
    public var status: String
    public var cpus: Int
    public var memoryBytes: Int64
    public var diskBytes: Int64
    public var arch: String
    public var vmType: String
    public var dir: String
    public var sshLocalPort: Int?
    /// Only while running.
    public var usage: Usage?

    public init(
        name: String, status: String, cpus: Int, memoryBytes: Int64, diskBytes: Int64, arch: String,
        vmType: String, dir: String, sshLocalPort: Int? = nil, usage: Usage? = nil
    ) {
        self.name = name
        self.status = status
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.diskBytes = diskBytes
        self.arch = arch
        self.vmType = vmType
        self.dir = dir
        self.sshLocalPort = sshLocalPort
        self.usage = usage
    }
}
