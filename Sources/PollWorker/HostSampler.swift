import Foundation
import Models
import Synchronization

/// Samples host and per-process figures from procfs for heartbeats and metrics. CPU figures
/// are rates, so the sampler keeps the previous reading: each call reports the time since the
/// call before it.
///
/// A file that is missing or does not parse gives zeros (host figures) or nil (a process),
/// never a crash; such a reading is not remembered.
public final class HostSampler: Sendable {
    /// The previous readings the rates are computed from.
    private struct State {
        var cpu: CPUTimes?
        var processes: [Int32: (stats: ProcessStats, at: ContinuousClock.Instant)] = [:]
    }

    private let procFS: ProcFS
    private let ticksPerSecond: Int
    private let now: @Sendable () -> ContinuousClock.Instant
    private let diskUsage: @Sendable (String) -> DiskUsage?
    private let state = Mutex(State())

    /// - Parameters:
    ///   - procFS: where `/proc` is.
    ///   - ticksPerSecond: the unit of `/proc/<pid>/stat` CPU times.
    ///   - now: the current instant, for the time between two process readings.
    ///   - diskUsage: how the disk figures of a path are found (`statvfs`).
    public init(
        procFS: ProcFS = ProcFS(),
        ticksPerSecond: Int = ProcessStats.ticksPerSecond,
        now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now },
        diskUsage: @escaping @Sendable (String) -> DiskUsage? = { DiskSpace.usage(path: $0) }
    ) {
        self.procFS = procFS
        self.ticksPerSecond = ticksPerSecond
        self.now = now
        self.diskUsage = diskUsage
    }

    /// The host's figures: CPU % since the previous CPU reading, the one-minute load, memory,
    /// the disk holding `diskPath`, and network bytes since boot (all interfaces but `lo`).
    public func system(diskPath: String) -> MetricsSample.System {
        MetricsSample.System(
            cpuPercent: cpuPercent(),
            load1: procFS.read("loadavg").flatMap { LoadAverage.parse(loadavg: $0) } ?? 0,
            memory: procFS.read("meminfo").flatMap { MemInfo.parse(meminfo: $0) }
                ?? MemoryUsage(totalBytes: 0, usedBytes: 0),
            disk: diskUsage(diskPath) ?? DiskUsage(path: diskPath, totalBytes: 0, usedBytes: 0),
            network: procFS.read("net/dev").flatMap { NetworkCounters.parse(netDev: $0) }
                ?? MetricsSample.Network(rxBytes: 0, txBytes: 0))
    }

    /// Host CPU busy % (0...100) since the previous reading (by this method or `system`). The
    /// first reading is compared with boot, so it is the average since boot. 0 when
    /// `/proc/stat` cannot be read.
    public func cpuPercent() -> Double {
        guard let current = procFS.read("stat").flatMap({ CPUTimes.parse(procStat: $0) }) else { return 0 }
        let previous = state.withLock { locked in
            defer { locked.cpu = current }
            return locked.cpu ?? CPUTimes(busy: 0, total: 0)
        }
        return CPUTimes.percent(from: previous, to: current)
    }

    /// Process `pid`'s CPU % (of one CPU; may exceed 100 for a multi-threaded VM) since the
    /// previous call for the same pid, nil on the first, and its resident bytes. nil when the
    /// process does not exist (or its files do not parse); its previous reading is then
    /// forgotten.
    public func process(pid: Int32) -> (cpuPercent: Double?, rssBytes: Int64)? {
        guard pid > 0, let stat = procFS.read("\(pid)/stat"), let status = procFS.read("\(pid)/status"),
            let current = ProcessStats.parse(stat: stat, status: status)
        else {
            state.withLock { _ = $0.processes.removeValue(forKey: pid) }
            return nil
        }
        let instant = now()
        let previous = state.withLock { locked in
            defer { locked.processes[pid] = (current, instant) }
            return locked.processes[pid]
        }
        let percent = previous.map { reading in
            ProcessStats.percent(
                from: reading.stats, to: current, elapsed: reading.at.duration(to: instant),
                ticksPerSecond: ticksPerSecond)
        }
        return (percent, current.rssBytes)
    }

    /// Drops the remembered readings of every pid not in `pids` (VMs that stopped), so the
    /// table does not grow with every VM start. The next `process` call for a dropped pid
    /// reports nil CPU again.
    public func forgetProcesses(except pids: Set<Int32>) {
        state.withLock { locked in
            locked.processes = locked.processes.filter { pids.contains($0.key) }
        }
    }
}
