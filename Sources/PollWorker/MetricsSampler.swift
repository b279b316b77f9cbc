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
///
/// An idle agent (no job held, no VM running in the last sample) samples only every
/// `heartbeatInterval` when that is longer: nothing moves between samples, and the
/// agent must not wake on a timer faster than its heartbeat. The first job or the
/// first running VM brings the `metricsInterval` cadence back. While idle it does not
/// run `limactl list` again either when the Lima home is unchanged (`IdleListCache`).
public struct MetricsSampler: Service {
    let limactl: Limactl
    let host: HostSampler
    let operations: OperationStats
    let store: StateStore
    let board: HealthBoard
    let registrar: Registrar
    let interval: Int
    let heartbeatInterval: Int
    /// Whether any job is held (claimed and not yet reported).
    let busy: @Sendable () async -> Bool
    let stateDir: String
    let vmDataDir: String
    let logger: Logger
    let clock: ContinuousClock
    /// The last list of an idle host, reused while nothing changed (`IdleListCache`).
    let lastList = Locked(IdleListCache())

    public init(
        limactl: Limactl, host: HostSampler, operations: OperationStats, store: StateStore, board: HealthBoard,
        registrar: Registrar, interval: Int, heartbeatInterval: Int? = nil, stateDir: String, vmDataDir: String,
        logger: Logger, busy: @escaping @Sendable () async -> Bool = { true },
        clock: ContinuousClock = ContinuousClock()
    ) {
        self.heartbeatInterval = heartbeatInterval ?? interval
        self.busy = busy
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
                let sample = await sampleOnce()
                try? await clock.sleep(for: .milliseconds(max(1000, await nextInterval(after: sample))))
            }
        }
    }

    /// ms to the next sample: `metricsInterval`, or the heartbeat interval when idle.
    func nextInterval(after sample: MetricsSample) async -> Int {
        let running = (sample.vms ?? []).contains { $0.status == "Running" }
        let busy = running ? true : await busy()
        return Self.interval(
            metrics: await registrar.overrides.metricsInterval ?? interval,
            heartbeat: await registrar.overrides.heartbeatInterval ?? heartbeatInterval,
            idle: !busy)
    }

    /// `metrics`, stretched to `heartbeat` while the agent is idle.
    static func interval(metrics: Int, heartbeat: Int, idle: Bool) -> Int {
        idle ? max(metrics, heartbeat) : metrics
    }

    /// Takes one sample, queues it, and refreshes the health board.
    @discardableResult
    public func sampleOnce() async -> MetricsSample {
        let system = host.system(diskPath: vmDataDir)
        let idle = await !busy()
        let fingerprint = LimaHomeFingerprint.take(limaHome: limactl.limaHome, executable: limactl.executable)
        let started = clock.now
        let reused = lastList.withLock { $0.reusable(idle: idle, fingerprint: fingerprint, now: started) }
        let listed: CommandOutcome
        if let reused {
            listed = reused
        } else {
            listed = await limactl.run(["list", "--json"], timeout: .seconds(30))
        }
        let listFailure = Limactl.failure(listed, action: "limactl list")
        let entries = listFailure == nil ? LimactlListEntry.parse(listed.stdoutText).map(\.vmInfo) : []
        if reused == nil {
            let running = entries.contains { $0.status == "Running" }
            lastList.withLock { $0.remember(listed, anyRunning: running, fingerprint: fingerprint, at: started) }
        }
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
