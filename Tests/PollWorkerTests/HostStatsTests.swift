import Foundation
import Models
import Synchronization
import Testing

@testable import PollWorker

#if canImport(Glibc)
    import Glibc
#endif

/// `/proc/stat` with known counters: busy = 100+20+30+5+5+0 = 160, idle = 800+50 = 850,
/// total = 1010 (guest 10 is already inside user, so it is not added).
private let procStat1 = """
    cpu  100 20 30 800 50 5 5 0 10 0
    cpu0 50 10 15 400 25 3 2 0 5 0
    cpu1 50 10 15 400 25 2 3 0 5 0
    intr 123456 0 0
    ctxt 987654
    btime 1700000000
    processes 4321
    procs_running 2
    procs_blocked 0

    """

/// 400 ticks later: busy 260 (+100), idle 1150 (+300), total 1410 (+400) → 25 %.
private let procStat2 = """
    cpu  170 20 50 1080 70 10 10 0 40 0
    cpu0 85 10 25 540 35 5 5 0 20 0
    cpu1 85 10 25 540 35 5 5 0 20 0
    btime 1700000000

    """

private let meminfo = """
    MemTotal:       16384000 kB
    MemFree:         2048000 kB
    MemAvailable:    8192000 kB
    Buffers:          512000 kB
    Cached:          4096000 kB
    SwapCached:            0 kB
    HugePages_Total:       0
    Hugepagesize:       2048 kB

    """

private let loadavg = "0.52 0.58 0.59 2/1234 56789\n"

private let netDev = """
    Inter-|   Receive                                                |  Transmit
     face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
        lo: 1000000    1000    0    0    0     0          0         0  1000000    1000    0    0    0     0       0          0
      eth0: 123456789  98765    0    0    0     0          0         0 98765432   54321    0    0    0     0       0          0
     wlan0:    1000      10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0

    """

/// A `/proc/PID/stat` whose comm holds spaces and parentheses; utime (field 14) = 250 and
/// stime (field 15) = 50.
private let processStat1 =
    "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 3 0 12345 123456789 5120 "
    + "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n"

/// The same process later: utime 450, stime 100, so 250 more ticks.
private let processStat2 =
    "4242 (my (odd) proc) S 1 4242 4242 0 -1 4194560 1234 0 0 0 450 100 0 0 20 0 3 0 12345 123456789 5120 "
    + "18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n"

private let processStatus = """
    Name:\tmy (odd) proc
    State:\tS (sleeping)
    Pid:\t4242
    VmPeak:\t  123456 kB
    VmRSS:\t   20480 kB
    Threads:\t3

    """

/// A fresh, not yet existing directory under the system's temporary directory.
private func makeTemporaryDirectory(_ prefix: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
}

/// Writes `text` to `relative` under `root`, creating directories as needed.
private func writeFixture(_ text: String, to relative: String, under root: String) throws {
    let url = URL(fileURLWithPath: root).appendingPathComponent(relative)
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try text.write(to: url, atomically: false, encoding: .utf8)
}

/// A settable monotonic instant the test moves by hand.
private final class InstantSource: Sendable {
    private let current = Mutex(ContinuousClock.now)

    var now: ContinuousClock.Instant { current.withLock { $0 } }

    func advance(by duration: Duration) {
        current.withLock { $0 = $0.advanced(by: duration) }
    }
}

@Suite("Host statistics from procfs")
struct HostStatsTests {
    @Test("The aggregate cpu line gives busy and total ticks without the guest fields")
    func cpuTimesParse() {
        #expect(CPUTimes.parse(procStat: procStat1) == CPUTimes(busy: 160, total: 1010))
        #expect(CPUTimes.parse(procStat: procStat2) == CPUTimes(busy: 260, total: 1410))
    }

    @Test("Steal counts as busy and iowait as idle")
    func cpuTimesStealAndIOWait() {
        #expect(CPUTimes.parse(procStat: "cpu  1 2 3 4 5 6 7 8 9 10\n") == CPUTimes(busy: 27, total: 36))
    }

    @Test("A kernel printing only four cpu fields still parses")
    func cpuTimesFourFields() {
        #expect(CPUTimes.parse(procStat: "cpu 10 0 10 80\n") == CPUTimes(busy: 20, total: 100))
    }

    @Test("Text without an aggregate cpu line, or with garbage in it, gives nil")
    func cpuTimesMissing() {
        #expect(CPUTimes.parse(procStat: "cpu0 1 2 3 4\nintr 5\n") == nil)
        #expect(CPUTimes.parse(procStat: "cpu  1 2 x 4\n") == nil)
        #expect(CPUTimes.parse(procStat: "cpu  1 2\n") == nil)
        #expect(CPUTimes.parse(procStat: "") == nil)
    }

    @Test("CPU percent is the busy share of the ticks between two readings")
    func cpuPercent() {
        let earlier = CPUTimes(busy: 160, total: 1010)
        let later = CPUTimes(busy: 260, total: 1410)
        #expect(CPUTimes.percent(from: earlier, to: later) == 25)
        #expect(CPUTimes.percent(from: CPUTimes(busy: 0, total: 0), to: earlier) == 160.0 / 1010.0 * 100)
    }

    @Test("CPU percent is 0 when no time passed or the counters went backwards, and never above 100")
    func cpuPercentEdges() {
        let reading = CPUTimes(busy: 160, total: 1010)
        #expect(CPUTimes.percent(from: reading, to: reading) == 0)
        #expect(CPUTimes.percent(from: reading, to: CPUTimes(busy: 10, total: 20)) == 0)
        #expect(CPUTimes.percent(from: reading, to: CPUTimes(busy: 500, total: 1110)) == 100)
    }

    @Test("Meminfo gives total and total minus MemAvailable, in bytes")
    func memInfo() {
        #expect(
            MemInfo.parse(meminfo: meminfo)
                == MemoryUsage(totalBytes: 16_384_000 * 1024, usedBytes: (16_384_000 - 8_192_000) * 1024))
    }

    @Test("Without MemAvailable, MemFree plus Buffers plus Cached is what is available")
    func memInfoWithoutAvailable() {
        let old = meminfo.split(separator: "\n").filter { !$0.hasPrefix("MemAvailable") }.joined(separator: "\n")
        let available: Int64 = 2_048_000 + 512_000 + 4_096_000
        #expect(
            MemInfo.parse(meminfo: old)
                == MemoryUsage(totalBytes: 16_384_000 * 1024, usedBytes: (16_384_000 - available) * 1024))
    }

    @Test("Meminfo without MemTotal gives nil")
    func memInfoWithoutTotal() {
        #expect(MemInfo.parse(meminfo: "MemFree: 100 kB\nMemAvailable: 200 kB\n") == nil)
        #expect(MemInfo.parse(meminfo: "") == nil)
    }

    @Test("The load average is the first field of loadavg")
    func loadAverage() {
        #expect(LoadAverage.parse(loadavg: loadavg) == 0.52)
        #expect(LoadAverage.parse(loadavg: "") == nil)
        #expect(LoadAverage.parse(loadavg: "nan 1 1\n") == nil)
    }

    @Test("Network bytes are summed over every interface except lo")
    func networkCounters() {
        #expect(
            NetworkCounters.parse(netDev: netDev)
                == MetricsSample.Network(rxBytes: 123_456_789 + 1000, txBytes: 98_765_432 + 2000))
    }

    @Test("A host with only lo has zero network bytes; text that is not net/dev gives nil")
    func networkCountersOnlyLoopback() {
        let onlyLoopback = netDev.split(separator: "\n").prefix(3).joined(separator: "\n")
        #expect(NetworkCounters.parse(netDev: onlyLoopback) == MetricsSample.Network(rxBytes: 0, txBytes: 0))
        #expect(NetworkCounters.parse(netDev: "hello\n") == nil)
    }

    @Test("An old kernel's net/dev line without a space after the colon parses")
    func networkCountersNoSpace() {
        let line = "eth0:500 5 0 0 0 0 0 0 700 7 0 0 0 0 0 0\n"
        #expect(NetworkCounters.parse(netDev: line) == MetricsSample.Network(rxBytes: 500, txBytes: 700))
    }

    @Test("A process stat whose comm holds spaces and parentheses is split after the last parenthesis")
    func processStatsOddComm() {
        #expect(
            ProcessStats.parse(stat: processStat1, status: processStatus)
                == ProcessStats(cpuTicks: 300, rssBytes: 20480 * 1024))
    }

    @Test("A process status without VmRSS gives zero resident bytes; a broken stat gives nil")
    func processStatsEdges() {
        #expect(
            ProcessStats.parse(stat: processStat1, status: "Name:\tzombie\nState:\tZ (zombie)\n")
                == ProcessStats(cpuTicks: 300, rssBytes: 0))
        #expect(ProcessStats.parse(stat: "4242 (short) S 1 2 3", status: processStatus) == nil)
        #expect(ProcessStats.parse(stat: "", status: processStatus) == nil)
    }

    @Test("Process CPU percent is ticks over ticks-per-second over elapsed seconds")
    func processPercent() {
        let earlier = ProcessStats(cpuTicks: 300, rssBytes: 0)
        let later = ProcessStats(cpuTicks: 550, rssBytes: 0)
        #expect(ProcessStats.percent(from: earlier, to: later, elapsed: .seconds(5), ticksPerSecond: 100) == 50)
        #expect(
            ProcessStats.percent(from: earlier, to: later, elapsed: .milliseconds(500), ticksPerSecond: 100) == 500)
        #expect(ProcessStats.percent(from: earlier, to: later, elapsed: .zero, ticksPerSecond: 100) == 0)
        #expect(ProcessStats.percent(from: later, to: earlier, elapsed: .seconds(5), ticksPerSecond: 100) == 0)
    }

    @Test("The sampler reads a fixture procfs and reports CPU since the previous call")
    func samplerSystem() throws {
        let root = makeTemporaryDirectory("limahost-proc")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try writeFixture(procStat1, to: "stat", under: root)
        try writeFixture(meminfo, to: "meminfo", under: root)
        try writeFixture(loadavg, to: "loadavg", under: root)
        try writeFixture(netDev, to: "net/dev", under: root)
        let disk = DiskUsage(path: "/var/lib/limahost", totalBytes: 1000, usedBytes: 400)
        let sampler = HostSampler(
            procFS: ProcFS(root: root), ticksPerSecond: 100, diskUsage: { _ in disk })

        let memory = MemoryUsage(totalBytes: 16_384_000 * 1024, usedBytes: 8_192_000 * 1024)
        let network = MetricsSample.Network(rxBytes: 123_457_789, txBytes: 98_767_432)
        let first = sampler.system(diskPath: "/var/lib/limahost")
        #expect(
            first
                == MetricsSample.System(
                    cpuPercent: 160.0 / 1010.0 * 100, load1: 0.52, memory: memory, disk: disk, network: network))

        try writeFixture(procStat2, to: "stat", under: root)
        let second = sampler.system(diskPath: "/var/lib/limahost")
        #expect(second.cpuPercent == 25)
        #expect(second.memory == memory)

        #expect(sampler.cpuPercent() == 0)
    }

    @Test("The sampler reports nil process CPU first, then the percent over the injected elapsed time")
    func samplerProcess() throws {
        let root = makeTemporaryDirectory("limahost-proc")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try writeFixture(processStat1, to: "4242/stat", under: root)
        try writeFixture(processStatus, to: "4242/status", under: root)
        let clock = InstantSource()
        let sampler = HostSampler(procFS: ProcFS(root: root), ticksPerSecond: 100, now: { clock.now })

        let first = try #require(sampler.process(pid: 4242))
        #expect(first.cpuPercent == nil)
        #expect(first.rssBytes == 20480 * 1024)

        try writeFixture(processStat2, to: "4242/stat", under: root)
        clock.advance(by: .seconds(5))
        let second = try #require(sampler.process(pid: 4242))
        // 250 ticks at 100 per second is 2.5 s of CPU in 5 s.
        #expect(second.cpuPercent == 50)
        #expect(second.rssBytes == 20480 * 1024)

        #expect(sampler.process(pid: 4243) == nil)
    }

    @Test("A vanished process is forgotten, so its next reading starts over")
    func samplerProcessVanishes() throws {
        let root = makeTemporaryDirectory("limahost-proc")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try writeFixture(processStat1, to: "4242/stat", under: root)
        try writeFixture(processStatus, to: "4242/status", under: root)
        let sampler = HostSampler(procFS: ProcFS(root: root), ticksPerSecond: 100)

        let first = try #require(sampler.process(pid: 4242))
        #expect(first.cpuPercent == nil)
        try FileManager.default.removeItem(atPath: root + "/4242")
        #expect(sampler.process(pid: 4242) == nil)
        try writeFixture(processStat2, to: "4242/stat", under: root)
        try writeFixture(processStatus, to: "4242/status", under: root)
        let again = try #require(sampler.process(pid: 4242))
        #expect(again.cpuPercent == nil)

        sampler.forgetProcesses(except: [4242])
        let kept = try #require(sampler.process(pid: 4242))
        #expect(kept.cpuPercent != nil)
        sampler.forgetProcesses(except: [])
        let forgotten = try #require(sampler.process(pid: 4242))
        #expect(forgotten.cpuPercent == nil)
    }

    @Test("Missing procfs files give zeros and nil, not a crash")
    func samplerMissingFiles() {
        let root = makeTemporaryDirectory("limahost-proc-empty")
        let sampler = HostSampler(procFS: ProcFS(root: root), ticksPerSecond: 100, diskUsage: { _ in nil })
        #expect(
            sampler.system(diskPath: "/nowhere")
                == MetricsSample.System(
                    cpuPercent: 0, load1: 0, memory: MemoryUsage(totalBytes: 0, usedBytes: 0),
                    disk: DiskUsage(path: "/nowhere", totalBytes: 0, usedBytes: 0),
                    network: MetricsSample.Network(rxBytes: 0, txBytes: 0)))
        #expect(sampler.cpuPercent() == 0)
        #expect(sampler.process(pid: 4242) == nil)
        #expect(sampler.process(pid: 0) == nil)
    }

    @Test(
        "The test process's own stats from the real /proc have resident bytes",
        .enabled(if: FileManager.default.fileExists(atPath: "/proc/self/stat")))
    func realProcSelf() throws {
        let proc = ProcFS()
        let pid = getpid()
        let stat = try #require(proc.read("\(pid)/stat"))
        let status = try #require(proc.read("\(pid)/status"))
        let stats = try #require(ProcessStats.parse(stat: stat, status: status))
        #expect(stats.rssBytes > 0)
        #expect(ProcessStats.ticksPerSecond > 0)
        let sampled = try #require(HostSampler().process(pid: pid))
        #expect(sampled.rssBytes > 0)
    }

    @Test("The real root file system has a size and some of it used")
    func realDiskSpace() throws {
        let usage = try #require(DiskSpace.usage(path: "/"))
        #expect(usage.path == "/")
        #expect(usage.totalBytes >= usage.usedBytes)
        #expect(usage.usedBytes > 0)
    }

    @Test("A path that does not exist yet is measured on its nearest existing ancestor")
    func diskSpaceMissingPath() throws {
        let missing = makeTemporaryDirectory("limahost-missing") + "/a/b"
        let usage = try #require(DiskSpace.usage(path: missing))
        #expect(usage.path == missing)
        #expect(usage.totalBytes > 0)
    }
}

@Suite("Instance pid files")
struct InstancePIDsTests {
    /// A fresh instance directory holding `files` (name → contents); removed by the caller.
    private func instanceDirectory(_ files: [String: String]) throws -> String {
        let dir = makeTemporaryDirectory("limahost-instance")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in files {
            try writeFixture(text, to: name, under: dir)
        }
        return dir
    }

    @Test("The driver pid is qemu.pid's, never ha.pid's")
    func qemuNotHostAgent() throws {
        let dir = try instanceDirectory(["qemu.pid": "12345\n", "ha.pid": "999\n", "lima.yaml": "vmType: qemu\n"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(InstancePIDs.driverPID(instanceDir: dir) == 12345)
    }

    @Test("Only ha.pid means no driver pid")
    func onlyHostAgent() throws {
        let dir = try instanceDirectory(["ha.pid": "999\n"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(InstancePIDs.driverPID(instanceDir: dir) == nil)
    }

    @Test("vz.pid is read with surrounding whitespace trimmed")
    func vzTrimmed() throws {
        let dir = try instanceDirectory(["vz.pid": "  777 \n", "ha.pid": "777\n"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(InstancePIDs.driverPID(instanceDir: dir) == 777)
    }

    @Test("The vmType's pid file comes first, then qemu, vz and krunkit, then any other pid file")
    func preference() throws {
        let dir = try instanceDirectory(["qemu.pid": "1001\n", "krunkit.pid": "1002\n", "ext.drv.pid": "1003\n"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(InstancePIDs.driverPID(instanceDir: dir) == 1001)
        #expect(InstancePIDs.driverPID(instanceDir: dir, vmType: "krunkit") == 1002)
        #expect(InstancePIDs.driverPID(instanceDir: dir, vmType: "ext.drv") == 1003)

        let external = try instanceDirectory(["ext.drv.pid": "1003\n", "ha.pid": "999\n"])
        defer { try? FileManager.default.removeItem(atPath: external) }
        #expect(InstancePIDs.driverPID(instanceDir: external) == 1003)
    }

    @Test("A pid file holding no positive integer is skipped")
    func garbage() throws {
        let dir = try instanceDirectory(["qemu.pid": "not a pid\n", "vz.pid": "0\n"])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(InstancePIDs.driverPID(instanceDir: dir) == nil)
    }

    @Test("A missing instance directory gives nil")
    func missingDirectory() {
        #expect(InstancePIDs.driverPID(instanceDir: makeTemporaryDirectory("limahost-none")) == nil)
    }
}

@Suite("MetricsSampler: cadence")
struct MetricsCadenceTests {
    @Test("Idle, samples come at the heartbeat's pace; with a job or a running VM, at metricsInterval's")
    func idleStretchesToTheHeartbeat() {
        #expect(MetricsSampler.interval(metrics: 10_000, heartbeat: 30_000, idle: true) == 30_000)
        #expect(MetricsSampler.interval(metrics: 10_000, heartbeat: 30_000, idle: false) == 10_000)
        // Never faster than asked: a heartbeat shorter than the metrics interval changes nothing.
        #expect(MetricsSampler.interval(metrics: 60_000, heartbeat: 30_000, idle: true) == 60_000)
    }
}

@Suite("MetricsSampler: an idle host's limactl list")
struct IdleListCacheTests {
    /// A Lima home with one stopped instance, and an executable beside it.
    private func makeHome() throws -> (home: String, executable: String) {
        let root = testScratch + "/lima-fp-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/home/vm1", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/home/_config", withIntermediateDirectories: true)
        try "cpus: 1\n".write(toFile: root + "/home/vm1/lima.yaml", atomically: false, encoding: .utf8)
        try "#!/bin/sh\n".write(toFile: root + "/limactl", atomically: false, encoding: .utf8)
        return (root + "/home", root + "/limactl")
    }

    private func fingerprint(_ paths: (home: String, executable: String)) throws -> LimaHomeFingerprint {
        try #require(LimaHomeFingerprint.take(limaHome: paths.home, executable: paths.executable))
    }

    @Test(
        "The fingerprint changes when an instance appears, starts, or has its lima.yaml edited in place, or limactl changes"
    )
    func fingerprintChanges() throws {
        let paths = try makeHome()
        let first = try fingerprint(paths)
        #expect(try fingerprint(paths) == first)
        // Lima's own directories do not count.
        try "x".write(toFile: paths.home + "/_config/networks.yaml", atomically: false, encoding: .utf8)
        #expect(try fingerprint(paths) == first)

        let handle = try #require(FileHandle(forWritingAtPath: paths.home + "/vm1/lima.yaml"))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("memory: 2GiB\n".utf8))
        try handle.close()
        let edited = try fingerprint(paths)
        #expect(edited != first)

        try "4242".write(toFile: paths.home + "/vm1/ha.pid", atomically: false, encoding: .utf8)
        let started = try fingerprint(paths)
        #expect(started != edited)

        try FileManager.default.createDirectory(atPath: paths.home + "/vm2", withIntermediateDirectories: false)
        let created = try fingerprint(paths)
        #expect(created != started)

        try "#!/bin/sh\nexit 0\n".write(toFile: paths.executable, atomically: false, encoding: .utf8)
        #expect(try fingerprint(paths) != created)
        #expect(LimaHomeFingerprint.take(limaHome: paths.home + "/missing", executable: nil) == nil)
    }

    @Test("A list is reused only while idle, unchanged, successful, with no VM running, and younger than maxAge")
    func reuseRules() throws {
        let paths = try makeHome()
        let print = try fingerprint(paths)
        let now = ContinuousClock.now
        let listed = CommandOutcome(termination: .exited(0), stdout: Data("{\"name\":\"vm1\"}\n".utf8))
        var cache = IdleListCache()
        #expect(cache.reusable(idle: true, fingerprint: print, now: now) == nil)

        cache.remember(listed, anyRunning: false, fingerprint: print, at: now)
        #expect(cache.reusable(idle: true, fingerprint: print, now: now + .seconds(30)) == listed)
        #expect(cache.reusable(idle: false, fingerprint: print, now: now + .seconds(30)) == nil)
        #expect(cache.reusable(idle: true, fingerprint: nil, now: now + .seconds(30)) == nil)
        #expect(cache.reusable(idle: true, fingerprint: print, now: now + IdleListCache.maxAge) == nil)
        try FileManager.default.createDirectory(atPath: paths.home + "/vm2", withIntermediateDirectories: false)
        #expect(cache.reusable(idle: true, fingerprint: try fingerprint(paths), now: now + .seconds(30)) == nil)

        cache.remember(listed, anyRunning: true, fingerprint: print, at: now)
        #expect(cache.reusable(idle: true, fingerprint: print, now: now) == nil)
        cache.remember(listed, anyRunning: false, fingerprint: print, at: now)
        cache.remember(
            CommandOutcome(termination: .exited(1)), anyRunning: false, fingerprint: print, at: now)
        #expect(cache.reusable(idle: true, fingerprint: print, now: now) == nil)
    }
}
