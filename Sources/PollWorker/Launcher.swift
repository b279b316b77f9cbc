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
        let hostProblems = hostChecks.problems(result.config)
        let redactor = LogSink(logFile: nil, journald: false)
        if let key = result.config.controlPlaneApiKey { redactor.redact(key.exposedValue) }
        if request.checkConfig {
            writeOut(redactor.redacted(EffectiveConfigReport.render(result, hostProblems: hostProblems)))
            return result.errors.isEmpty ? .ok : .configuration
        }
        let blocking = (result.problems + hostProblems).filter { $0.severity != .warning }
        for problem in result.problems + hostProblems {
            writeErr(redactor.redacted("limahost-agent: \(problem.severity.rawValue): \(problem)\n"))
        }
        guard blocking.isEmpty else {
            writeErr("limahost-agent: the configuration has \(blocking.count) problem(s); not starting\n")
            return .configuration
        }
        writeErr("limahost-agent: the poll loop is not implemented yet in this build; nothing was run\n")
        return .configuration
    }
}
