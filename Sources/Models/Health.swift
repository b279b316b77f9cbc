/// Host health carried in heartbeats (§5.1).
public struct Health: Codable, Sendable, Equatable {
    public var cpuPercent: Double
    public var memory: MemoryUsage
    public var disk: DiskUsage
    /// `ok`, or why limactl is not usable.
    public var lima: String
    /// VM counts by status, e.g. `{"Running": 2, "Stopped": 1}`.
    public var vms: [String: Int]
    /// The 1-minute load average (an addition to §5.1; unknown fields are ignored).
    public var load1: Double?
    /// Every filesystem the agent depends on: `stateDir`'s and `vmDataDir`'s (an addition to §5.1).
    public var disks: [DiskUsage]?

    public init(
        cpuPercent: Double, memory: MemoryUsage, disk: DiskUsage, lima: String, vms: [String: Int],
        load1: Double? = nil, disks: [DiskUsage]? = nil
    ) {
        self.cpuPercent = cpuPercent
        self.memory = memory
        self.disk = disk
        self.lima = lima
        self.vms = vms
        self.load1 = load1
        self.disks = disks
    }
}

public struct MemoryUsage: Codable, Sendable, Equatable {
    public var totalBytes: Int64
    public var usedBytes: Int64

    public init(totalBytes: Int64, usedBytes: Int64) {
        self.totalBytes = totalBytes
        self.usedBytes = usedBytes
    }
}

public struct DiskUsage: Codable, Sendable, Equatable {
    public var path: String
    public var totalBytes: Int64
    public var usedBytes: Int64

    public init(path: String, totalBytes: Int64, usedBytes: Int64) {
        self.path = path
        self.totalBytes = totalBytes
        self.usedBytes = usedBytes
    }
}
