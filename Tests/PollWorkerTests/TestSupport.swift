import Foundation
import Logging
import Models
import Synchronization
import Testing

@testable import PollWorker

#if canImport(Glibc)
    import Glibc
#endif

/// The instant most tests use as "now": `2026-11-27T08:00:30Z`, a Friday.
let fixedNow = Date(timeIntervalSince1970: 1_795_766_430)

/// A logger for code under test that discards everything.
let testLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// A settable "now" for code that takes a `now` closure: the test moves it by hand.
final class TestClock: Sendable {
    private let current: Mutex<Date>

    init(_ start: Date = fixedNow) {
        current = Mutex(start)
    }

    var now: Date { current.withLock { $0 } }

    func advance(by seconds: TimeInterval) {
        current.withLock { $0.addTimeInterval(seconds) }
    }

    func set(_ date: Date) {
        current.withLock { $0 = date }
    }
}

/// This test process's scratch directory under the system's temporary one, removed when
/// the process exits: a run of the suite leaves no state directories behind (it left
/// about a hundred a run before).
let testScratch: String = {
    let path = NSTemporaryDirectory() + "limahost-unit-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: testScratch) }
    return path
}()

/// A fresh, not yet existing state directory in `testScratch`.
func makeStateDirectory() -> String {
    testScratch + "/store-\(UUID().uuidString)"
}

/// A real state store in `directory` (a fresh temporary one unless given): the
/// same directory given twice is the agent starting again on its old state.
func makeStore(directory: String = makeStateDirectory(), maxOutboxBytes: Int = 1 << 26) throws -> StateStore {
    try StateStore(directory: directory, maxOutboxBytes: maxOutboxBytes)
}

/// Values appended from any thread, read back in order.
final class Collected<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])

    init() {}

    func append(_ item: Element) {
        items.withLock { $0.append(item) }
    }

    var all: [Element] { items.withLock { $0 } }
}

/// Things that happened, in the order an actor saw them.
actor EventLog {
    private(set) var entries: [String] = []

    func append(_ entry: String) {
        entries.append(entry)
    }
}

/// A `ConfigLoader` for host `host-1` reading files from memory; a path not in
/// `files` fails like a missing file (ENOENT).
func memoryLoader(_ files: [String: String], hostname: String = "host-1") -> ConfigLoader {
    ConfigLoader(
        hostname: hostname,
        readFile: { path in
            guard let text = files[path] else { throw FileBytes.Failure(path: path, errno: ENOENT) }
            return Data(text.utf8)
        })
}

/// Sources with no `--config`, the given environment and flags.
func configSources(
    environment: [String: String] = [:], overrides: ConfigSources.Overrides = ConfigSources.Overrides()
) -> ConfigSources {
    ConfigSources(configFlag: nil, environment: environment, overrides: overrides)
}

/// The package's `config.template.json`, found from this file's location.
func templateURL(filePath: String = #filePath) -> URL {
    URL(fileURLWithPath: filePath)
        .deletingLastPathComponent()  // PollWorkerTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // the package
        .appendingPathComponent("config.template.json")
}

/// A job on `vm` (start_vm), or a VM-less list_vms job when `vm` is nil.
func makeJob(_ id: String, attempt: Int = 1, vm: String?, lease: Date = fixedNow) -> Job {
    let parameters: JobParameters =
        if let vm { .startVM(JobParameters.VMTarget(vmName: vm)) } else { .listVMs }
    return Job(id: id, attempt: attempt, leaseExpiresAt: lease, parameters: parameters)
}

/// A get_vm_info job on `vm`: it only reads the VM.
func makeInfoJob(_ id: String, vm: String, lease: Date = fixedNow) -> Job {
    Job(id: id, attempt: 1, leaseExpiresAt: lease, parameters: .getVMInfo(JobParameters.VMTarget(vmName: vm)))
}

/// A finished result for `job`.
func makeResult(_ job: Job, _ status: ResultStatus = .succeeded) -> JobResult {
    JobResult(
        jobId: job.id, attempt: job.attempt, type: job.type.rawValue, status: status, startedAt: fixedNow,
        finishedAt: fixedNow, duration: 0)
}

/// Lines of `limactl list --json` (limactl-reference.md §1.6).
enum ListLines {
    /// The reference's illustrative line for a stopped v2.2.0 instance.
    static let stoppedDev =
        #"{"name":"dev","hostname":"lima-dev","status":"Stopped","dir":"/Users/u/.lima/dev","vmType":"vz","arch":"aarch64","cpus":4,"memory":4294967296,"disk":107374182400,"sshLocalPort":51234,"sshConfigFile":"/Users/u/.lima/dev/ssh.config","config":{"vmType":"vz","os":"Linux","arch":"aarch64","cpus":4,"memory":"4GiB","disk":"100GiB","...":"..."},"sshAddress":"127.0.0.1","protected":false,"limaVersion":"v2.2.0","HostOS":"darwin","HostArch":"aarch64","LimaHome":"/Users/u/.lima","IdentityFile":"/Users/u/.lima/_config/user"}"#

    /// A running instance: `hostAgentPID` and `driverPID` follow `sshConfigFile`.
    static let runningWeb =
        #"{"name":"web","hostname":"lima-web","status":"Running","dir":"/home/limahost/.lima/web","vmType":"qemu","arch":"x86_64","cpus":2,"memory":2147483648,"disk":21474836480,"sshLocalPort":60022,"sshConfigFile":"/home/limahost/.lima/web/ssh.config","hostAgentPID":4242,"driverPID":4243,"sshAddress":"127.0.0.1","protected":false,"limaVersion":"v2.2.0","HostOS":"linux","HostArch":"x86_64","LimaHome":"/home/limahost/.lima","IdentityFile":"/home/limahost/.lima/_config/user"}"#

    static let stoppedDevInfo = VMInfo(
        name: "dev", status: "Stopped", cpus: 4, memoryBytes: 4_294_967_296, diskBytes: 107_374_182_400,
        arch: "aarch64", vmType: "vz", dir: "/Users/u/.lima/dev", sshLocalPort: 51234)

    static let runningWebInfo = VMInfo(
        name: "web", status: "Running", cpus: 2, memoryBytes: 2_147_483_648, diskBytes: 21_474_836_480,
        arch: "x86_64", vmType: "qemu", dir: "/home/limahost/.lima/web", sshLocalPort: 60022)
}

/// The book's only pending result is `ref` ended `failed` (internal) because its start
/// could not be journaled.
func expectStartNotJournaled(_ book: JobBook, _ ref: JobRef) async {
    let pending = await book.pendingResults(limit: 10)
    #expect(pending.map(\.ref) == [ref])
    #expect(pending.first?.status == .failed)
    #expect(pending.first?.error?.code == .internal)
    #expect(pending.first?.error?.message.contains("could not journal the job's start") == true)
}

extension JobBook {
    /// `admit`, returning only the jobs to run.
    func admitJobs(_ decodings: [JobDecoding]) throws(StoreError) -> [Job] {
        try admit(decodings).jobs
    }
}
