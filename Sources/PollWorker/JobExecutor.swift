import Foundation
import Logging
import Models

/// Runs one job through limactl under its deadline and turns the outcome into a
/// result. Policy checks that need no VM come first: nothing runs on a refusal.
public struct JobExecutor: Sendable {
    let limactl: Limactl
    let config: AgentConfig
    let logger: Logger
    let now: @Sendable () -> Date
    let clock: ContinuousClock
    let policy: JobPolicy
    let archiver: BackupArchiver
    /// Serializes the totals check and `limactl create` of concurrent creates.
    let creations = AsyncMutex()

    /// How long the cleanup `limactl stop -f` after a failed start may take.
    public static let cleanupTimeout: Duration = .seconds(30)

    public init(
        limactl: Limactl, config: AgentConfig, logger: Logger, now: @escaping @Sendable () -> Date = Date.init,
        clock: ContinuousClock = ContinuousClock()
    ) {
        self.limactl = limactl
        self.config = config
        self.logger = logger
        self.now = now
        self.clock = clock
        self.policy = JobPolicy(config: config)
        self.archiver = BackupArchiver(runner: limactl.archiveRunner)
    }

    /// The job types this build runs; registration advertises exactly these.
    public static let supportedTypes: [JobType] = JobType.allCases

    /// The per-type default timeout (ms) when the job gives none.
    public static func defaultTimeout(_ type: JobType) -> Int {
        switch type {
        case .createVM, .startVM, .restartVM: 600_000
        case .stopVM, .deleteVM: 240_000
        case .executeCommand, .getVMInfo, .listVMs, .collectLogs: 30_000
        case .backupVM, .restoreVM: 1_800_000
        }
    }

    /// The job's timeout capped by `security.maxCommandTimeout`; the per-type default when absent.
    public func timeout(for job: Job) -> Duration {
        let requested = job.timeout.map { min($0, config.security.maxCommandTimeout) }
        return .milliseconds(requested ?? Self.defaultTimeout(job.type))
    }

    /// Runs the job; `live`, when given, receives its output as it is produced.
    public func execute(_ job: Job, live: LiveOutput? = nil) async -> JobResult {
        let startedAt = now()
        let deadline = clock.now.advanced(by: timeout(for: job))
        var result = JobResult(
            jobId: job.id, attempt: job.attempt, type: job.type.rawValue, status: .succeeded, startedAt: startedAt)
        do throws(JobError) {
            // Intake checked these already; checking again costs nothing and keeps the
            // executor safe on its own.
            try policy.check(job)
            var output: (@Sendable (OutputStreamKind, Data) -> Void)?
            if let live { output = { kind, data in live.append(kind, data) } }
            let context = Context(job: job, deadline: deadline, clock: clock, output: output)
            try await run(job, context, into: &result)
        } catch {
            result.status = error.status
            result.error = error.wire
        }
        let finishedAt = now()
        result.finishedAt = finishedAt
        result.duration = max(0, Int((finishedAt.timeIntervalSince(startedAt) * 1000).rounded()))
        return result
    }

    /// The job's deadline, shared by every limactl call it makes.
    struct Context: Sendable {
        let job: Job
        let deadline: ContinuousClock.Instant
        let clock: ContinuousClock
        /// Where the job's live output goes (commands, and limactl's progress while a VM starts).
        var output: (@Sendable (OutputStreamKind, Data) -> Void)? = nil

        var remaining: Duration {
            let left = clock.now.duration(to: deadline)
            return left > .zero ? left : .zero
        }
    }

    private func run(_ job: Job, _ context: Context, into result: inout JobResult) async throws(JobError) {
        switch job.parameters {
        case .createVM(let parameters):
            result.data = try await createVM(parameters, context)
        case .startVM(let target):
            try await startVM(target.vmName, context)
            result.data = try await describe(target.vmName, context)
        case .stopVM(let parameters):
            try await limactlStep(["stop"] + (parameters.force ? ["-f"] : []) + [parameters.vmName], "stop", context)
            result.data = try await describe(parameters.vmName, context)
        case .restartVM(let target):
            try await startVM(target.vmName, context, arguments: ["restart", target.vmName])
            result.data = try await describe(target.vmName, context)
        case .deleteVM(let parameters):
            try await limactlStep(
                ["delete"] + (parameters.force ? ["-f"] : []) + [parameters.vmName], "delete", context)
            result.data = try JobExecutor.encode(ResultData.Deleted(deleted: parameters.vmName))
        case .executeCommand(let parameters):
            try await executeCommand(parameters, context, into: &result)
        case .getVMInfo(let target):
            result.data = try await describe(target.vmName, context)
        case .listVMs:
            let vms = try await list([], context)
            result.data = try JobExecutor.encode(ResultData.VMList(vms: vms))
        case .backupVM(let parameters):
            result.data = try await backupVM(parameters, context)
        case .restoreVM(let parameters):
            result.data = try await restoreVM(parameters, context)
        case .collectLogs(let parameters):
            result.data = try await collectLogs(parameters, context)
        }
    }

    static func encode(_ value: some Encodable) throws(JobError) -> JSONValue {
        do {
            return try JSONValue(encoding: value)
        } catch {
            throw .failed(.internal, "cannot encode the result: \(error)")
        }
    }

    /// Runs one limactl step; throws the mapped failure unless it exited 0.
    @discardableResult
    func limactlStep(_ arguments: [String], _ action: String, _ context: Context) async throws(JobError)
        -> CommandOutcome
    {
        let outcome = await limactl.run(arguments, timeout: context.remaining)
        if let failure = Limactl.failure(outcome, action: "limactl \(action)") { throw failure }
        return outcome
    }

    /// `limactl list --json [NAMES]` as VMs.
    func list(_ names: [String], _ context: Context) async throws(JobError) -> [VMInfo] {
        let outcome = await limactl.run(["list", "--json"] + names, timeout: context.remaining)
        if let failure = Limactl.failure(outcome, action: "limactl list") { throw failure }
        return LimactlListEntry.parse(outcome.stdoutText).map(\.vmInfo)
    }

    func describe(_ name: String, _ context: Context) async throws(JobError) -> JSONValue {
        let vms = try await list([name], context)
        guard let vm = vms.first(where: { $0.name == name }) else {
            throw .failed(.vmNotFound, "no VM named \(name)")
        }
        return try JobExecutor.encode(vm)
    }
}
