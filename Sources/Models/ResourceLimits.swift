/// Per-VM and per-agent resource limits; memory and disk in GiB (§3, the agent's configuration).
public struct ResourceLimits: Codable, Sendable, Equatable {
    public var maxVmsPerAgent: Int
    public var maxCpuPerVm: Int
    public var maxMemoryPerVm: Int
    public var maxDiskPerVm: Int
    public var maxTotalCpu: Int
    public var maxTotalMemory: Int
    public var maxTotalDisk: Int

    public init(
        maxVmsPerAgent: Int = 10, maxCpuPerVm: Int = 8, maxMemoryPerVm: Int = 16, maxDiskPerVm: Int = 100,
        maxTotalCpu: Int = 32, maxTotalMemory: Int = 64, maxTotalDisk: Int = 500
    ) {
        self.maxVmsPerAgent = maxVmsPerAgent
        self.maxCpuPerVm = maxCpuPerVm
        self.maxMemoryPerVm = maxMemoryPerVm
        self.maxDiskPerVm = maxDiskPerVm
        self.maxTotalCpu = maxTotalCpu
        self.maxTotalMemory = maxTotalMemory
        self.maxTotalDisk = maxTotalDisk
    }
}
