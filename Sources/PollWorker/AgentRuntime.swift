import Foundation
import Logging
import Models
import ServiceLifecycle

/// Builds the agent's services from a checked configuration, recovers the state
/// store, and runs the services under one ServiceGroup, which owns the signals
/// and the shutdown order: the poller stops claiming first, the runner finishes
/// every claimed job, the lease keeper stops watching, the reporter flushes, and
/// the shutdown coordinator (which turns a second signal into a hard stop) goes last.
public struct AgentRuntime: Sendable {
    let config: AgentConfig
    let controlPlane: any ControlPlane
    let limactl: Limactl
    let store: StateStore
    let logger: Logger
    let drain: Bool
    /// systemd's notify socket (a no-op outside systemd).
    let notifier: SystemdNotifier
    /// What SIGHUP does: reopen the log file.
    let reopenLogs: @Sendable () -> Void

    public init(
        config: AgentConfig, controlPlane: any ControlPlane, limactl: Limactl, store: StateStore, logger: Logger,
        drain: Bool, notifier: SystemdNotifier = SystemdNotifier(environment: [:]),
        reopenLogs: @escaping @Sendable () -> Void = {}
    ) {
        self.notifier = notifier
        self.reopenLogs = reopenLogs
        self.config = config
        self.controlPlane = controlPlane
        self.limactl = limactl
        self.store = store
        self.logger = logger
        self.drain = drain
    }

    public func registration() async -> Registration {
        let version = await HostFacts.limaVersion(limactl)
        return Registration(
            agentId: config.agentId, agentName: config.agentName, version: AgentVersion.current,
            protocol: AgentVersion.wireProtocol,
            host: .init(
                hostname: ProcessInfo.processInfo.hostName, os: "linux", arch: HostFacts.architecture(),
                cpus: ProcessInfo.processInfo.activeProcessorCount,
                memoryBytes: Int64(ProcessInfo.processInfo.physicalMemory),
                diskBytes: DiskSpace.usage(path: config.stateDir)?.totalBytes ?? 0),
            lima: version.map { .init(version: $0) },
            capabilities: .init(
                jobTypes: JobExecutor.supportedTypes, maxConcurrentOperations: config.maxConcurrentOperations,
                templates: config.security.allowedVmTemplates),
            resourceLimits: config.resourceLimits)
    }

    /// Runs until the queue is drained (`--drain`) or a signal stops it.
    public func run() async -> ExitStatus {
        let mode = RunMode(drain: drain)
        let pollerBell = Doorbell()
        let reporterBell = Doorbell()
        let leaseBell = Doorbell()
        // A command that waits for an operator's approval must not be journaled as started.
        let approving = config.security.requireCommandApproval
        let (work, workContinuation) = AsyncStream.makeStream(of: Job.self)
        let book = JobBook(
            maxConcurrent: config.maxConcurrentOperations, store: store, bells: [pollerBell, reporterBell, leaseBell],
            logger: logger, startsEarly: { job in !(approving && ApprovalGate.applies(to: job)) },
            handOff: { job in
                if case .enqueued = workContinuation.yield(job) { return true }
                return false
            })
        let recovery: StoreRecovery
        do throws(StoreError) {
            recovery = try store.recover(now: Date())
        } catch {
            logger.error("cannot recover the state store", metadata: ["error": .string(error.message)])
            return .configuration
        }
        Self.logRecovery(recovery, logger)
        let resumed = await book.restore(recovery)
        let runtime = self
        let registrar = Registrar(
            controlPlane: controlPlane, registration: { await runtime.registration() }, logger: logger)
        for job in resumed { workContinuation.yield(job) }
        let executor = JobExecutor(limactl: limactl, config: config, logger: logger)
        let firstReport = Latch(open: recovery.pending.isEmpty)
        let liveness = Liveness()

        let poller = Poller(
            controlPlane: controlPlane, registrar: registrar, book: book, work: workContinuation, bell: pollerBell,
            mode: mode, pollWait: config.pollWait, pollInterval: config.pollInterval, logger: logger,
            firstReport: firstReport,
            intake: JobIntake(config: config), notifier: notifier, liveness: liveness,
            drainGiveUp: .milliseconds(config.drainRetryTimeout))
        let approvals =
            config.security.requireCommandApproval
            ? ApprovalGate(
                store: store, book: book, timeout: .milliseconds(config.security.approvalTimeout), logger: logger)
            : nil
        let store = self.store
        let operations = OperationStats()
        let runner = JobRunner(
            work: work, book: book, executor: executor, logger: logger, approvals: approvals,
            liveOutput: { job in LiveOutput(jobId: job.id, store: store, bell: reporterBell) }, operations: operations)
        let leaseKeeper = LeaseKeeper(book: book, bell: leaseBell, logger: logger)
        let board = HealthBoard()
        let metrics = MetricsSampler(
            limactl: limactl, host: HostSampler(), operations: operations, store: store, board: board,
            registrar: registrar, interval: config.metricsInterval, heartbeatInterval: config.heartbeatInterval,
            stateDir: config.stateDir, vmDataDir: limactl.limaHome ?? config.vmDataDir, logger: logger,
            busy: { [book] in await !book.heldRefs.isEmpty })
        let reporter = Reporter(
            controlPlane: controlPlane, registrar: registrar, book: book, store: store, bell: reporterBell, mode: mode,
            heartbeatInterval: config.heartbeatInterval, startedAt: Date(), logger: logger, firstReport: firstReport,
            health: board, notifier: notifier, liveness: liveness)
        let coordinator = ShutdownCoordinator(
            book: book, mode: mode, drainTimeout: .milliseconds(config.drainTimeout), logger: logger,
            notifier: notifier)

        func entry(_ service: any Service, _ name: String) -> ServiceGroupConfiguration.ServiceConfiguration {
            .init(
                service: service, successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: name)
        }
        var groupConfig = ServiceGroupConfiguration(
            services: [
                entry(coordinator, "shutdown"), entry(HangupHandler(reopen: reopenLogs), "hangup"),
                entry(Watchdog(notifier: notifier, liveness: liveness, logger: logger), "watchdog"),
                entry(reporter, "reporter"), entry(metrics, "metrics"),
                entry(leaseKeeper, "leases"),
                entry(runner, "runner"), entry(poller, "poller"),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A backstop only: the drain budget, the cleanup after a hard stop and the
        // bounded final flush all fit well inside it. Past it, the group is cancelled.
        groupConfig.maximumGracefulShutdownDuration = .milliseconds(config.drainTimeout + 180_000)
        let group = ServiceGroup(configuration: groupConfig)

        logger.info(
            drain ? "draining the job queue" : "agent started",
            metadata: [
                "agentId": .string(config.agentId), "controlPlane": .string(config.controlPlaneUrl ?? ""),
                "maxConcurrentOperations": "\(config.maxConcurrentOperations)", "stateStore": .string(store.path),
            ])
        do {
            try await group.run()
        } catch {
            let agentError = Self.agentError(in: error)
            logger.error("stopped on an error", metadata: ["error": .string(agentError.description)])
            return ExitStatus.forError(agentError)
        }
        let statuses = await book.producedStatuses
        let failed = statuses.filter { $0.key != .succeeded }.values.reduce(0, +)
        let succeeded = statuses[.succeeded] ?? 0
        logger.info(
            drain ? "drain finished" : "agent stopped",
            metadata: ["succeeded": "\(succeeded)", "notSucceeded": "\(failed)"])
        return drain && failed > 0 ? .jobFailed : .ok
    }

    static func logRecovery(_ recovery: StoreRecovery, _ logger: Logger) {
        for ref in recovery.interrupted {
            logger.warning(
                "a job was running when the agent stopped; reporting it interrupted",
                metadata: ["job": .string(ref.jobId), "attempt": "\(ref.attempt)"])
        }
        for ref in recovery.expired {
            logger.info(
                "a claimed job's lease ran out while the agent was down; leaving it to the control plane",
                metadata: ["job": .string(ref.jobId), "attempt": "\(ref.attempt)"])
        }
        if !recovery.resumable.isEmpty || !recovery.pending.isEmpty {
            logger.info(
                "recovered the state store",
                metadata: ["resumed": "\(recovery.resumable.count)", "pendingResults": "\(recovery.pending.count)"])
        }
    }

    /// The AgentError inside whatever ServiceGroup threw.
    static func agentError(in error: any Error) -> AgentError {
        if let agentError = error as? AgentError { return agentError }
        if let runnerError = error as? ServiceGroupError {
            return AgentError(.internal, "service group: \(runnerError)")
        }
        return AgentError(.internal, String(describing: error))
    }
}
