import Foundation

/// The `data` shapes of successful results (§4.2) that are not a bare `VMInfo`.
public enum ResultData {
    /// `list_vms`: `{"vms": [VM, ...]}`.
    public struct VMList: Codable, Sendable, Equatable {
        public var vms: [VMInfo]
        public init(vms: [VMInfo]) { self.vms = vms }
    }

    /// `delete_vm`: `{"deleted": "my-app"}`.
    public struct Deleted: Codable, Sendable, Equatable {
        public var deleted: String
        public init(deleted: String) { self.deleted = deleted }
    }

    /// `execute_command`: `{"exitCode": 0}` plus the result's output fields.
    public struct Exit: Codable, Sendable, Equatable {
        public var exitCode: Int
        public init(exitCode: Int) { self.exitCode = exitCode }
    }

    /// `backup_vm`.
    public struct Backup: Codable, Sendable, Equatable {
        public var path: String
        public var sizeBytes: Int64
        public var sha256: String
        public var vmName: String
        public var createdAt: Date
        public init(path: String, sizeBytes: Int64, sha256: String, vmName: String, createdAt: Date) {
            self.path = path
            self.sizeBytes = sizeBytes
            self.sha256 = sha256
            self.vmName = vmName
            self.createdAt = createdAt
        }
    }

    /// `collect_logs`: `{"files": {"ha.stderr.log": "..."}}`.
    public struct Logs: Codable, Sendable, Equatable {
        public var files: [String: String]
        public init(files: [String: String]) { self.files = files }
    }
}
