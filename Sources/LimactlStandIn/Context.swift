import Glibc

/// What every command gets: the configured logger, LIMA_HOME and the effective `--tty`.
struct Context: Sendable {
    var log: Logger
    let home: LimaHome
    let tty: Bool

    /// Applies the global flags the way limactl's `PersistentPreRunE` does.
    init(_ flags: FlagParser.Result, log: Logger) throws {
        var log = log
        if flags.bool("debug") { log.minimum = .debug }
        if let level = flags.string("log-level"), !level.isEmpty { log.minimum = try Logger.Level.parse(level) }
        switch flags.string("log-format") ?? "text" {
        case "json": log.json = true
        case "text": log.json = false
        case let other: throw CLIError.fatal("unsupported log-format: \(other.bq)")
        }
        if flags.has("yes") && flags.has("tty") {
            throw CLIError.fatal("cannot use both --tty and --yes flags at the same time")
        }
        self.log = log
        home = LimaHome()
        tty = flags.bool("yes") ? false : flags.has("tty") ? flags.bool("tty") : isatty(1) == 1
    }
}
