/// `limactl restart [-f]`: a stop (graceful or forced) and a start. Edit flags are not supported.
enum RestartCommand {
    static let flags: [FlagParser.Flag] = [.bool("force", "f"), .bool("progress")]

    static func run(_ ctx: Context, _ flags: FlagParser.Result) throws {
        guard flags.positionals.count <= 1 else {
            throw CLIError.args(
                "restart", "accepts at most 1 arg(s), received \(flags.positionals.count)",
                use: "restart INSTANCE [flags]", short: "Restart a running instance")
        }
        let name = flags.positionals.first ?? "default"
        let inst = try StopCommand.existing(ctx, name)
        if flags.bool("force") {
            StopCommand.forcibly(ctx, inst)
        } else {
            try StopCommand.gracefully(ctx, inst, restart: true)
        }
        try StartCommand.start(ctx, name, timeout: StartCommand.defaultTimeout)
    }
}
