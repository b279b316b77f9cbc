import Foundation
import Logging

/// What the command line asks for, after parsing.
public struct LaunchRequest: Sendable {
    public var sources: ConfigSources
    public var drain: Bool
    public var checkConfig: Bool

    public init(sources: ConfigSources, drain: Bool, checkConfig: Bool) {
        self.sources = sources
        self.drain = drain
        self.checkConfig = checkConfig
    }
}

/// Loads and checks the configuration, then runs the mode asked for. The
/// executable only parses arguments and calls this.
public struct Launcher: Sendable {
    private let loader: ConfigLoader
    private let hostChecks: HostChecks
    private let writeOut: @Sendable (String) -> Void
    private let writeErr: @Sendable (String) -> Void

    public init(
        loader: ConfigLoader, hostChecks: HostChecks, writeOut: @escaping @Sendable (String) -> Void,
        writeErr: @escaping @Sendable (String) -> Void
    ) {
        self.loader = loader
        self.hostChecks = hostChecks
        self.writeOut = writeOut
        self.writeErr = writeErr
    }

    public func run(_ request: LaunchRequest) async -> ExitStatus {
        let result = loader.load(request.sources)
        let hostProblems = hostChecks.problems(result.config) + hostChecks.credentialProblems(result)
        var redactor = Redactor()
        if let key = result.config.controlPlaneApiKey {
            redactor.add(key.exposedValue, minimumLength: Redactor.logMinimumLength)
        }
        if request.checkConfig {
            writeOut(redactor.apply(EffectiveConfigReport.render(result, hostProblems: hostProblems)))
            return result.errors.isEmpty ? .ok : .configuration
        }
        let blocking = (result.problems + hostProblems).filter { $0.severity != .warning }
        for problem in result.problems + hostProblems {
            writeErr(redactor.apply("limahost-agent: \(problem.severity.rawValue): \(problem)\n"))
        }
        guard blocking.isEmpty else {
            writeErr("limahost-agent: the configuration has \(blocking.count) problem(s); not starting\n")
            return .configuration
        }
        return await start(result.config, drain: request.drain, environment: request.sources.environment)
    }

    /// Wires the real dependencies: the log sink, one URLSession, limactl as the unprivileged user.
    private func start(_ config: AgentConfig, drain: Bool, environment: [String: String]) async -> ExitStatus {
        guard let urlText = config.controlPlaneUrl, let url = URL(string: urlText), let key = config.controlPlaneApiKey,
            let account = hostChecks.limaAccount(config)
        else {
            writeErr("limahost-agent: the configuration is incomplete; not starting\n")
            return .configuration
        }
        let sink = LogSink(logFile: config.logFile, journald: environment["JOURNAL_STREAM"] != nil)
        sink.redact(key.exposedValue)
        let level = config.logLevel.level
        LoggingSystem.bootstrap { label in AgentLogHandler(label: label, level: level, sink: sink) }
        var logger = Logger(label: "limahost-agent")
        logger.logLevel = level
        if url.scheme?.lowercased() == "http" && !ConfigLoader.isLoopback(url.host ?? "") {
            logger.warning("the control plane URL is plain http:// (security.allowInsecureHttp is set)")
        }

        let executable = hostChecks.executableOnPath(config.limactlPath)
        if executable == nil {
            logger.error(
                "limactl not found; every job will fail with limactl_unavailable",
                metadata: ["limactlPath": .string(config.limactlPath)])
        }
        let limaHome = Limactl.expandHome(config.vmDataDir, home: account.home)
        let limactl = Limactl(
            runner: SubprocessRunner(), executable: executable,
            account: hostChecks.effectiveUserIsRoot ? account : nil,
            environment: Limactl.childEnvironment(
                limaHome: limaHome, account: account, executable: executable, inherited: environment),
            maxOutputBytes: config.maxOutputBytes, logger: logger)
        let lock: AgentLock
        let store: StateStore
        do throws(StoreError) {
            lock = try AgentLock(directory: config.stateDir)
            store = try StateStore(directory: config.stateDir, maxOutboxBytes: config.outboxMaxBytes)
        } catch {
            writeErr("limahost-agent: error: stateDir: \(error.message)\n")
            return .configuration
        }
        defer { withExtendedLifetime(lock) {} }
        // From here on the agent's warnings and errors also go to the control plane.
        let forwarder = LogForwarder(store: store)
        sink.forward { text, jobId in forwarder.forward(text, jobId: jobId) }
        let controlPlane = HTTPControlPlane(
            baseURL: url, agentId: config.agentId, apiKey: key, session: HTTPControlPlane.makeSession(), logger: logger,
            allowList: AddressAllowList(config.security.allowedControlPlaneIps))
        let runtime = AgentRuntime(
            config: config, controlPlane: controlPlane, limactl: limactl, store: store, logger: logger, drain: drain,
            notifier: SystemdNotifier(environment: environment), reopenLogs: { sink.reopen() })
        return await runtime.run()
    }
}
