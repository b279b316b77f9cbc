import Foundation

/// One metrics sample (§5.3): system, per-VM and per-operation figures.
public struct MetricsSample: Codable, Sendable, Equatable {
    public struct System: Codable, Sendable, Equatable {
        public var cpuPercent: Double
        public var load1: Double
        public var memory: MemoryUsage
        public var disk: DiskUsage
        public var network: Network

        public init(cpuPercent: Double, load1: Double, memory: MemoryUsage, disk: DiskUsage, network: Network) {
            self.cpuPercent = cpuPercent
            self.load1 = load1
            self.memory = memory
            self.disk = disk
            self.network = network
        }
    }

    public struct Network: Codable, Sendable, Equatable {
        public var rxBytes: Int64
        public var txBytes: Int64
        public init(rxBytes: Int64, txBytes: Int64) {
            self.rxBytes = rxBytes
            self.txBytes = txBytes
        }
    }

    public struct VM: Codable, Sendable, Equatable {
        public var name: String
        public var status: String
        public var cpuPercent: Double?
        public var rssBytes: Int64?
        public init(name: String, status: String, cpuPercent: Double? = nil, rssBytes: Int64? = nil) {
            self.name = name
            self.status = status
            self.cpuPercent = cpuPercent
            self.rssBytes = rssBytes
        }
    }

    /// Counts by status and duration percentiles (ms) for one job type.
    public struct Operation: Codable, Sendable, Equatable {
        public var succeeded: Int
        /// Every result that was not `succeeded`.
        public var failed: Int
        /// Duration percentiles in ms.
        public var p50: Int
        public var p99: Int
        /// Counts by result status (an addition to §5.3; unknown fields are ignored).
        public var statuses: [String: Int]?
        public init(succeeded: Int, failed: Int, p50: Int, p99: Int, statuses: [String: Int]? = nil) {
            self.succeeded = succeeded
            self.failed = failed
            self.p50 = p50
            self.p99 = p99
            self.statuses = statuses
        }
    }

    public var at: Date
    public var system: System?
    public var vms: [VM]?
    /// Keyed by job type, e.g. `create_vm`.
    public var operations: [String: Operation]?

    public init(at: Date, system: System? = nil, vms: [VM]? = nil, operations: [String: Operation]? = nil) {
        self.at = at
        self.system = system
        self.vms = vms
        self.operations = operations
    }
}
