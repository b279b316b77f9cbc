import Foundation
import Logging
import Models
import ServiceLifecycle

/// Every `metricsInterval` (or the control plane's override) it samples the host
/// and the VMs and puts the sample in the outbox, to go out with the next report
/// (§5.3); it also refreshes the health the heartbeats carry (§5.1).
/// - system: CPU % (from /proc/stat deltas), load, memory, disk of `vmDataDir`, network bytes;
/// - per VM: status from `limactl list`, and CPU % and RSS of the VM's driver process,
///   found through the pid file in its instance directory;
/// - operations: counts by status and p50/p99 durations per job type.
public struct MetricsSampler: Service {
    let limactl: Limactl
    let host: HostSampler
    let operations: OperationStats
    let store: StateStore
    let board: HealthBoard
    let registrar: Registrar
    let interval: Int
    let stateDir: String
    let vmDataDir: String
    let logger: Logger
    let clock: ContinuousClock

    public init(
        limactl: Limactl, host: HostSampler, operations: OperationStats, store: StateStore, board: HealthBoard,
        registrar: Registrar, interval: Int, stateDir: String, vmDataDir: String, logger: Logger,
        clock: ContinuousClock = ContinuousClock()
    ) {
        self.limactl = limactl
        self.host = host
        self.operations = operations
        self.store = store
        self.board = board
        self.registrar = registrar
        self.interval = interval
        self.stateDir = stateDir
        self.vmDataDir = vmDataDir
        self.logger = logger
        self.clock = clock
    }

    public func run() async {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await sampleOnce()
                let every = await registrar.overrides.metricsInterval ?? interval
                try? await clock.sleep(for: .milliseconds(max(1000, every)))
            }
        }
    }

    /// Takes one sample, queues it, and refreshes the health board.
    @discardableResult
    public func sampleOnce() async -> MetricsSample {
        let system = host.system(diskPath: vmDataDir)
        let listed = await limactl.run(["list", "--json"], timeout: .seconds(30))
        let listFailure = Limactl.failure(listed, action: "limactl list")
        let entries = listFailure == nil ? LimactlListEntry.parse(listed.stdoutText).map(\.vmInfo) : []
        // Each pid file is read once per sample.
        let pids = entries.map { InstancePIDs.driverPID(instanceDir: $0.dir, vmType: $0.vmType) }
        let vms = zip(entries, pids).map { info, pid -> MetricsSample.VM in
            var vm = MetricsSample.VM(name: info.name, status: info.status)
            if let pid, let stats = host.process(pid: pid) {
                vm.cpuPercent = stats.cpuPercent
                vm.rssBytes = stats.rssBytes
            }
            return vm
        }
        host.forgetProcesses(except: Set(pids.compactMap { $0 }))
        let sample = MetricsSample(at: Date(), system: system, vms: vms, operations: await operations.snapshot())
        do throws(StoreError) {
            try store.enqueueMetrics([sample])
        } catch {
            logger.warning("cannot queue a metrics sample", metadata: ["error": .string(error.message)])
        }
        var counts: [String: Int] = [:]
        for vm in vms { counts[vm.status.isEmpty ? "Unknown" : vm.status, default: 0] += 1 }
        let disks = [DiskSpace.usage(path: stateDir), DiskSpace.usage(path: vmDataDir)].compactMap { $0 }
        board.update(
            Health(
                cpuPercent: system.cpuPercent, memory: system.memory, disk: system.disk,
                lima: listFailure.map { "unavailable: \($0.message)" } ?? "ok",
                vms: counts, load1: system.load1, disks: disks))
        return sample
    }
}
