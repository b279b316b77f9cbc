import ServiceLifecycle
import UnixSignals

/// SIGHUP reopens the log file, after logrotate moved it away (`deploy/limahost-agent.logrotate`).
/// Without this service SIGHUP would end the process.
public struct HangupHandler: Service {
    let reopen: @Sendable () -> Void

    public init(reopen: @escaping @Sendable () -> Void) { self.reopen = reopen }

    public func run() async {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            for await _ in hangups { reopen() }
        }
    }
}
