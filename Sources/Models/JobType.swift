/// The job types of control-plane-api.md §4.2.
public enum JobType: String, Codable, Sendable, CaseIterable, Hashable {
    case createVM = "create_vm"
    case startVM = "start_vm"
    case stopVM = "stop_vm"
    case restartVM = "restart_vm"
    case deleteVM = "delete_vm"
    case executeCommand = "execute_command"
    case getVMInfo = "get_vm_info"
    case listVMs = "list_vms"
    case backupVM = "backup_vm"
    case restoreVM = "restore_vm"
    case collectLogs = "collect_logs"

    /// Whether the job changes a VM, so that it must not overlap another job on the same VM.
    /// The others only read: they change nothing, on the VM or the host, so running one
    /// twice does no harm (the agent does not wait for the disk before running them).
    public var mutatesVM: Bool {
        switch self {
        case .getVMInfo, .listVMs, .collectLogs: false
        default: true
        }
    }
}
