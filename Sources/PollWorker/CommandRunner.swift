/// Runs subprocesses. Production: `SubprocessRunner`; tests may fake it.
public protocol CommandRunner: Sendable {
    /// Never throws: a launch failure, a timeout and a cancellation are outcomes.
    func run(_ spec: CommandSpec) async -> CommandOutcome
}
