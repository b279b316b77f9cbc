/// A job type's parameters (§4.2), flat beside the envelope on the wire.
public enum JobParameters: Sendable, Equatable {
    case createVM(CreateVM)
    case startVM(VMTarget)
    case stopVM(StopVM)
    case restartVM(VMTarget)
    case deleteVM(DeleteVM)
    case executeCommand(ExecuteCommand)
    case getVMInfo(VMTarget)
    case listVMs
    case backupVM(BackupVM)
    case restoreVM(RestoreVM)
    case collectLogs(CollectLogs)

    public var type: JobType {
        switch self {
        case .createVM: .createVM
        case .startVM: .startVM
        case .stopVM: .stopVM
        case .restartVM: .restartVM
        case .deleteVM: .deleteVM
        case .executeCommand: .executeCommand
        case .getVMInfo: .getVMInfo
        case .listVMs: .listVMs
        case .backupVM: .backupVM
        case .restoreVM: .restoreVM
        case .collectLogs: .collectLogs
        }
    }

    /// The VM the job acts on, if any; jobs on the same VM run one at a time.
    public var vmName: String? {
        switch self {
        case .createVM(let p): p.vmName
        case .startVM(let p), .restartVM(let p), .getVMInfo(let p): p.vmName
        case .stopVM(let p): p.vmName
        case .deleteVM(let p): p.vmName
        case .executeCommand(let p): p.vmName
        case .listVMs: nil
        case .backupVM(let p): p.vmName
        case .restoreVM(let p): p.vmName
        case .collectLogs(let p): p.vmName
        }
    }
}

extension JobParameters {
    /// `start_vm`, `restart_vm`, `get_vm_info`: just a VM name.
    public struct VMTarget: Sendable, Equatable {
        public var vmName: String
        public init(vmName: String) { self.vmName = vmName }
    }

    /// `create_vm`: a template the agent allows, and optional sizes (GiB).
    public struct CreateVM: Sendable, Equatable {
        public struct Config: Sendable, Equatable {
            public var cpus: Int?
            public var memory: Double?
            public var disk: Double?
            /// Start the VM after creating it (default true).
            public var start: Bool

            public init(cpus: Int? = nil, memory: Double? = nil, disk: Double? = nil, start: Bool = true) {
                self.cpus = cpus
                self.memory = memory
                self.disk = disk
                self.start = start
            }
        }

        public var vmName: String
        public var template: String
        public var config: Config

        public init(vmName: String, template: String, config: Config = Config()) {
            self.vmName = vmName
            self.template = template
            self.config = config
        }
    }

    public struct StopVM: Sendable, Equatable {
        public var vmName: String
        public var force: Bool
        public init(vmName: String, force: Bool = false) {
            self.vmName = vmName
            self.force = force
        }
    }

    public struct DeleteVM: Sendable, Equatable {
        public var vmName: String
        /// Without force a running VM is refused.
        public var force: Bool
        public init(vmName: String, force: Bool = false) {
            self.vmName = vmName
            self.force = force
        }
    }

    /// `execute_command`: exactly one of `command` (through the guest's shell) or `argv` (no shell).
    public struct ExecuteCommand: Sendable, Equatable {
        public enum Command: Sendable, Equatable {
            case shell(String)
            case argv([String])
        }

        public var vmName: String
        public var command: Command
        public var workdir: String?
        public var env: [String: String]

        public init(vmName: String, command: Command, workdir: String? = nil, env: [String: String] = [:]) {
            self.vmName = vmName
            self.command = command
            self.workdir = workdir
            self.env = env
        }
    }

    public struct BackupVM: Sendable, Equatable {
        public var vmName: String
        public var backupPath: String
        /// Stop a running VM for a consistent copy and start it again (default true); false refuses it.
        public var stopIfRunning: Bool
        public init(vmName: String, backupPath: String, stopIfRunning: Bool = true) {
            self.vmName = vmName
            self.backupPath = backupPath
            self.stopIfRunning = stopIfRunning
        }
    }

    public struct RestoreVM: Sendable, Equatable {
        public var backupPath: String
        /// The name to restore as; it must not exist.
        public var vmName: String
        public var start: Bool
        /// The archive's expected sha256 (hex), as a backup_vm result gave it; checked before anything else.
        public var sha256: String?
        public init(backupPath: String, vmName: String, start: Bool = false, sha256: String? = nil) {
            self.backupPath = backupPath
            self.vmName = vmName
            self.start = start
            self.sha256 = sha256
        }
    }

    public struct CollectLogs: Sendable, Equatable {
        public static let defaultLines = 200
        public var vmName: String
        public var lines: Int
        public init(vmName: String, lines: Int = CollectLogs.defaultLines) {
            self.vmName = vmName
            self.lines = lines
        }
    }
}
