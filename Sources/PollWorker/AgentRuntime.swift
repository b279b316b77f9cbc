import Foundation
import Logging
import Models
import ServiceLifecycle

/// Builds the agent's services from a checked configuration and runs them under
/// one ServiceGroup, which owns the signals and the shutdown order: the poller
/// stops claiming first, the runner finishes every claimed job, the reporter
/// flushes last.
public struct AgentRuntime: Sendable {
    let config: AgentConfig
    let controlPlane: any ControlPlane
    let limactl: Limactl
    let logger: Logger
    let drain: Bool

    public init(config: AgentConfig, controlPlane: any ControlPlane, limactl: Limactl, logger: Logger, drain: Bool) {
        self.config = config
        self.controlPlane = controlPlane
        self.limactl = limactl
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
                diskBytes: HostFacts.diskBytes(config.stateDir)),
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
        let book = JobBook(maxConcurrent: config.maxConcurrentOperations, bells: [pollerBell, reporterBell])
        let runtime = self
        let registrar = Registrar(
            controlPlane: controlPlane, registration: { await runtime.registration() }, logger: logger)
        let (work, workContinuation) = AsyncStream.makeStream(of: Job.self)
        let executor = JobExecutor(limactl: limactl, config: config, logger: logger)

        let poller = Poller(
            controlPlane: controlPlane, registrar: registrar, book: book, work: workContinuation, bell: pollerBell,
            mode: mode, pollWait: config.pollWait, logger: logger)
        let runner = JobRunner(work: work, book: book, executor: executor, logger: logger)
        let reporter = Reporter(
            controlPlane: controlPlane, registrar: registrar, book: book, bell: reporterBell, mode: mode,
            heartbeatInterval: config.heartbeatInterval, startedAt: Date(), logger: logger)

        var groupConfig = ServiceGroupConfiguration(
            services: [
                .init(
                    service: reporter, successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "reporter"),
                .init(
                    service: runner, successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "runner"),
                .init(
                    service: poller, successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "poller"),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A job longer than this would outlive a stop request; past it, cancel everything.
        groupConfig.maximumGracefulShutdownDuration = .milliseconds(config.security.maxCommandTimeout + 60_000)
        let group = ServiceGroup(configuration: groupConfig)

        logger.info(
            drain ? "draining the job queue" : "agent started",
            metadata: [
                "agentId": .string(config.agentId), "controlPlane": .string(config.controlPlaneUrl ?? ""),
                "maxConcurrentOperations": "\(config.maxConcurrentOperations)",
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

    /// The AgentError inside whatever ServiceGroup threw.
    static func agentError(in error: any Error) -> AgentError {
        if let agentError = error as? AgentError { return agentError }
        if let runnerError = error as? ServiceGroupError {
            return AgentError(.internal, "service group: \(runnerError)")
        }
        return AgentError(.internal, String(describing: error))
    }
}
